package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/tenantless/tenantless/resource"
)

// Identity is the user a request acts for, as the upstream learns it.
type Identity struct {
	// Subject is the stable user ID, the access token's "sub".
	Subject string
	// Name is the username.
	Name string
	// ClientID is the OAuth client the token was issued to.
	ClientID string
	// Scopes are the granted scopes.
	Scopes []string
}

// ToolCall is one proxied tools/call, for the audit log and metrics.
type ToolCall struct {
	Identity
	// Tool is the tool's name.
	Tool string
	// Outcome is "ok", "tool_error" (the result has isError), "protocol_error"
	// (a JSON-RPC error) or "upstream_error" (no answer: the upstream failed,
	// the client went away).
	Outcome string
	// Latency is from the request's arrival to its result.
	Latency time.Duration
	// Address is the client's network address.
	Address string
}

// ToolScope makes tools/call of the tools whose name matches Glob (a
// path.Match pattern, e.g. "delete_*") need Scope.
type ToolScope struct {
	Glob  string
	Scope string
}

// Config configures a Gateway. Exactly one of Upstream and Command is set.
type Config struct {
	// Upstream is the Streamable HTTP endpoint of the MCP server to
	// protect, e.g. "http://127.0.0.1:3001/mcp".
	Upstream string
	// Command is a stdio MCP server to run once per MCP session: the
	// program and its arguments.
	Command []string
	// Verify checks bearer tokens. Required.
	Verify resource.Verifier
	// PublicURL is the base URL clients use when they do not reach the
	// gateway on a loopback host; no trailing slash. Required.
	PublicURL string
	// AuthorizationServer is the issuer, listed in the RFC 9728 metadata.
	// Required.
	AuthorizationServer string
	// Name is the resource_name in the metadata; empty means a default
	// naming the upstream.
	Name string
	// Scopes are the scopes the gateway knows; the first is needed for
	// every request. Empty means just "mcp".
	Scopes []string
	// ToolScopes are extra scopes tools/call of matching tools needs.
	ToolScopes []ToolScope
	// Username returns the username of a subject; nil or an error leaves
	// the subject as the name.
	Username func(ctx context.Context, subject string) (string, error)
	// Sign signs the identity JWT's claims with the authorization server's
	// key; nil sends no X-Tenantless-Identity.
	Sign func(ctx context.Context, claims map[string]any) (string, error)
	// Issuer is the identity JWT's "iss"; empty means AuthorizationServer.
	Issuer string
	// Headers are added to every upstream request (--upstream-header).
	Headers http.Header
	// Env names the gateway's environment variables a stdio upstream
	// inherits; nil means PATH and HOME.
	Env []string
	// Getenv reads the gateway's environment; nil means os.Getenv.
	Getenv func(string) string
	// IdleTimeout ends a stdio session's process after this long without
	// requests; zero means 10 minutes.
	IdleTimeout time.Duration
	// MaxSessions bounds the stdio processes running at once; zero means 16.
	MaxSessions int
	// ConnectTimeout bounds connecting to an HTTP upstream; zero means 3 s.
	ConnectTimeout time.Duration
	// Transport carries requests to an HTTP upstream; nil means one made
	// for it, with ConnectTimeout.
	Transport http.RoundTripper
	// OnToolCall, if set, is told about every proxied tools/call.
	OnToolCall func(ToolCall)
	// Observe and Intercept, if set, are the guard's hooks for the auth
	// trace (see resource.Guard): what it decided about each request, and
	// faults injected into authorized ones.
	Observe   func(r *http.Request, o resource.Observation)
	Intercept func(r *http.Request, o resource.Observation) resource.Interception
	// Logger receives structured logs; nil means discard.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultScope is the scope every request needs when Config.Scopes is empty.
const DefaultScope = "mcp"

// maxBody bounds a JSON-RPC request body, as the weather server does.
const maxBody = 4 << 20

// Gateway is the protected MCP endpoint in front of an upstream server.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	base     *url.URL
	guard    *resource.Guard
	upstream upstream
	ids      *identities
	sessions *sessions
	warned   sync.Map // schema problems already logged
	// closing ends when Close is called: GET streams end with it.
	closing context.Context
	close   context.CancelFunc
}

// upstream is where a checked request goes: an HTTP proxy or the stdio
// process pool.
type upstream interface {
	serve(w http.ResponseWriter, r *http.Request, c *call)
	ready(ctx context.Context) error
	describe() string
	close()
}

// New builds a Gateway. It does not contact the upstream: a server that
// is down now is reported by Ready and by 502s, not by New.
func New(cfg Config) (*Gateway, error) {
	if cfg.Verify == nil || cfg.PublicURL == "" || cfg.AuthorizationServer == "" {
		return nil, errors.New("gateway: Verify, PublicURL and AuthorizationServer are required")
	}
	if (cfg.Upstream == "") == (len(cfg.Command) == 0) {
		return nil, errors.New("gateway: set exactly one of Upstream and Command")
	}
	base, err := url.Parse(cfg.PublicURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || strings.HasSuffix(cfg.PublicURL, "/") {
		return nil, fmt.Errorf("gateway: public URL %q must be an http(s) URL without a trailing slash", cfg.PublicURL)
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{DefaultScope}
	}
	for _, ts := range cfg.ToolScopes {
		if _, err := path.Match(ts.Glob, ""); err != nil || ts.Scope == "" {
			return nil, fmt.Errorf("gateway: tool scope %q=%q: a glob such as delete_* and a scope", ts.Glob, ts.Scope)
		}
	}
	if cfg.Issuer == "" {
		cfg.Issuer = cfg.AuthorizationServer
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = 16
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 3 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{cfg: cfg, log: log, base: base}
	g.closing, g.close = context.WithCancel(context.Background())
	g.ids = newIdentities(cfg)
	g.sessions = newSessions(cfg.Now)
	if cfg.Upstream != "" {
		p, err := newProxy(g)
		if err != nil {
			return nil, err
		}
		g.upstream = p
		if cfg.Name == "" {
			g.cfg.Name = "MCP server at " + cfg.Upstream
		}
	} else {
		g.upstream = newStdio(g)
		if cfg.Name == "" {
			g.cfg.Name = "MCP server " + path.Base(cfg.Command[0])
		}
	}
	g.guard = &resource.Guard{
		Verify:      cfg.Verify,
		Resource:    func(r *http.Request) string { return g.origin(r) + r.URL.Path },
		Metadata:    func(r *http.Request) string { return g.origin(r) + resource.MetadataPath + r.URL.Path },
		Scope:       cfg.Scopes[:1],
		Needs:       g.needs,
		AllowOrigin: g.allowedOrigin,
		Logger:      log,
		Observe:     cfg.Observe,
		Intercept:   cfg.Intercept,
		Calls:       g.calls,
	}
	return g, nil
}

// Mount registers the protected endpoint and its metadata.
func (g *Gateway) Mount(mux *http.ServeMux) {
	h := g.guard.Wrap(http.HandlerFunc(g.serve))
	for _, p := range resource.Paths {
		mux.Handle(p, withCall(h))
		mux.HandleFunc(resource.MetadataPath+p, g.metadata)
	}
	mux.HandleFunc(resource.MetadataPath, g.metadata)
}

// Scopes are the scopes the gateway knows, the required one first.
func (g *Gateway) Scopes() []string { return g.cfg.Scopes }

// Describe says what is behind the gateway, for the banner.
func (g *Gateway) Describe() string { return g.upstream.describe() }

// Ready reports whether the upstream answers (an HTTP upstream accepts
// connections; a stdio command can be found).
func (g *Gateway) Ready(ctx context.Context) error { return g.upstream.ready(ctx) }

// Close ends the GET streams, every stdio process and idle upstream
// connections, so that a graceful HTTP shutdown is not held up by
// streams that never end. Requests in progress on an HTTP upstream go on.
// Call it when shutdown begins; calling it again does nothing more.
func (g *Gateway) Close() {
	g.close()
	g.upstream.close()
}

func (g *Gateway) metadata(w http.ResponseWriter, r *http.Request) {
	resource.ServeMetadata(w, r, func(r *http.Request, p string) resource.ProtectedResourceMetadata {
		return resource.ProtectedResourceMetadata{
			Resource:               g.origin(r) + p,
			AuthorizationServers:   []string{g.cfg.AuthorizationServer},
			ScopesSupported:        g.cfg.Scopes,
			BearerMethodsSupported: []string{"header"},
			ResourceName:           g.cfg.Name,
		}
	})
}

// origin is the scheme and host the client used when that host is
// loopback (each spelling gets tokens for its own URL), else PublicURL.
func (g *Gateway) origin(r *http.Request) string {
	if resource.IsLoopbackHost(r.Host) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		return scheme + "://" + strings.ToLower(r.Host)
	}
	return g.cfg.PublicURL
}

// allowedOrigin accepts browser origins on loopback and the public URL's.
func (g *Gateway) allowedOrigin(origin string) bool {
	if origin == "null" {
		return false
	}
	if strings.EqualFold(origin, g.base.Scheme+"://"+g.base.Host) {
		return true
	}
	_, hostport, ok := strings.Cut(origin, "://")
	return ok && resource.IsLoopbackHost(hostport)
}

// needs is the scopes a request needs beyond the first: those of the
// tools it calls.
func (g *Gateway) needs(r *http.Request) []string {
	c := callFrom(r.Context())
	if r.Method != http.MethodPost || c == nil {
		return nil
	}
	if err := c.peek(r); err != nil {
		return nil // answered by serve
	}
	var needed []string
	for _, m := range c.msgs {
		if m.Method != "tools/call" {
			continue
		}
		for _, ts := range g.cfg.ToolScopes {
			if ok, _ := path.Match(ts.Glob, m.Tool); ok && !contains(needed, ts.Scope) {
				needed = append(needed, ts.Scope)
			}
		}
	}
	return needed
}

// calls names a POST's JSON-RPC calls for the auth trace: the method, or
// "tools/call NAME".
func (g *Gateway) calls(r *http.Request) []string {
	c := callFrom(r.Context())
	if c == nil || c.peek(r) != nil {
		return nil
	}
	out := make([]string, 0, len(c.msgs))
	for _, m := range c.msgs {
		switch {
		case m.Method == "tools/call":
			out = append(out, "tools/call "+m.Tool)
		case m.Method != "":
			out = append(out, m.Method)
		}
	}
	return out
}

// serve handles a request the guard let through.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	info, _ := resource.VerifiedToken(r.Context())
	c := callFrom(r.Context())
	c.start = g.cfg.Now()
	c.addr = r.RemoteAddr
	switch r.Method {
	case http.MethodGet, http.MethodPost, http.MethodDelete:
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeError(w, http.StatusMethodNotAllowed, nil, codeInvalidRequest, "use GET, POST or DELETE")
		return
	}
	if r.Method == http.MethodPost {
		if err := c.peek(r); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, http.StatusRequestEntityTooLarge, nil, codeInvalidRequest, fmt.Sprintf("the request body is larger than %d bytes", maxBody))
				return
			}
			writeError(w, http.StatusBadRequest, nil, codeParseError, "the body is not JSON-RPC: "+err.Error())
			return
		}
	}
	c.id = g.ids.identity(r.Context(), info)
	if sid := r.Header.Get(headerSessionID); sid != "" {
		owner, ok := g.sessions.owner(sid)
		switch {
		case !ok:
			writeError(w, http.StatusNotFound, c.firstID(), codeInvalidRequest, "session not found; start a new one with initialize")
			return
		case owner != info.Subject:
			g.log.Warn("mcp session used with another user's token", "session", sid, "client_id", info.ClientID)
			writeError(w, http.StatusForbidden, c.firstID(), codeInvalidRequest, "session user mismatch")
			return
		}
		c.session = sid
	}
	g.upstream.serve(w, r, c)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
