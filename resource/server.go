package resource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tenantless/tenantless/resource/weather"
)

// TokenInfo is what a verifier learns from a valid access token.
type TokenInfo struct {
	// Subject is the user the token was issued for ("sub").
	Subject string
	// ClientID is the client the token was issued to.
	ClientID string
	// Scopes are the granted scopes.
	Scopes []string
	// Audience lists the resources the token is for ("aud").
	Audience []string
	// Expiry is when the token expires.
	Expiry time.Time
}

// Verifier checks an access token: signature, issuer, expiry and that its
// grant has not been revoked. It returns an error for any invalid token;
// the audience is checked by the resource server against the URL used.
// An error matching ErrUnavailable means the token could not be checked
// now (its issuer's database is down): the request gets 503, not 401,
// so that the client keeps its token and retries.
type Verifier func(ctx context.Context, token string) (TokenInfo, error)

// ErrUnavailable is what a Verifier's error matches when it cannot check
// tokens for the moment.
var ErrUnavailable = errors.New("token verification unavailable")

// Config configures a Server.
type Config struct {
	// Provider answers the weather tools. Required.
	Provider weather.Provider
	// Verify checks bearer tokens. Required.
	Verify Verifier
	// PublicURL is the base URL clients use when they do not reach the
	// server on a loopback host, e.g. "https://mcp.example"; no trailing
	// slash. Required.
	PublicURL string
	// AuthorizationServer is the issuer clients get tokens from; it is
	// listed byte for byte in the protected resource metadata. Required.
	AuthorizationServer string
	// Name is the resource_name in the metadata; empty means a default.
	Name string
	// Version is the MCP server's version.
	Version string
	// SessionTimeout closes idle MCP sessions; zero means 30 minutes.
	SessionTimeout time.Duration
	// Stateless serves every protocol revision without server-side
	// sessions (go-sdk's stateless mode: a request may carry any
	// Mcp-Session-Id, and none is kept), so that consecutive requests of
	// one client may reach different instances behind a load balancer.
	// The weather tools need nothing of a session. False keeps sessions
	// for revisions up to 2025-11-25.
	Stateless bool
	// Logger receives structured logs; nil means discard.
	Logger *slog.Logger
	// OnToolCall, if set, is told every tool call's tool name and outcome
	// ("ok", "tool_error" or "protocol_error"), for metrics.
	OnToolCall func(tool, outcome string)
	// Observe, if set, is told what the endpoint decided about each MCP
	// request (for the auth trace). It must not block.
	Observe func(r *http.Request, o Observation)
	// Intercept, if set, may answer an authorized MCP request with an
	// injected fault instead (for the auth trace's fault injection).
	Intercept func(r *http.Request, o Observation) Interception
}

// statelessProtocol is the first MCP revision without sessions.
const statelessProtocol = "2026-07-28"

// Paths are the URL paths of the MCP endpoint. Each is its own protected
// resource: a token must be issued for the URL the client uses.
var Paths = []string{"/mcp", "/mcp/stream"}

// Server is the protected MCP weather server: Streamable HTTP at Paths,
// bearer-token checks with RFC 6750 challenges, and RFC 9728 metadata.
type Server struct {
	cfg  Config
	log  *slog.Logger
	mcp  http.Handler
	base *url.URL
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Provider == nil || cfg.Verify == nil || cfg.PublicURL == "" || cfg.AuthorizationServer == "" {
		return nil, errors.New("resource: Provider, Verify, PublicURL and AuthorizationServer are required")
	}
	base, err := url.Parse(cfg.PublicURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || strings.HasSuffix(cfg.PublicURL, "/") {
		return nil, fmt.Errorf("resource: public URL %q must be an http(s) URL without a trailing slash", cfg.PublicURL)
	}
	if cfg.Name == "" {
		cfg.Name = "tenantless weather MCP server"
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 30 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ms := mcp.NewServer(&mcp.Implementation{Name: "tenantless-weather", Title: "Weather", Version: cfg.Version}, &mcp.ServerOptions{
		Instructions: "Weather forecasts for any point (latitude/longitude) and active weather alerts for US states. " +
			"Every result says which data source it came from.",
		Logger: log,
	})
	AddTools(ms, cfg.Provider)
	if cfg.OnToolCall != nil {
		ms.AddReceivingMiddleware(countToolCalls(cfg.OnToolCall))
	}
	getServer := func(*http.Request) *mcp.Server { return ms }
	// Protocol revisions up to 2025-11-25 have sessions (bound to the
	// token's user by the SDK); 2026-07-28 is stateless, and go-sdk serves
	// it only from a stateless handler. Requests go to one or the other by
	// their MCP-Protocol-Version header.
	stateful := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		SessionTimeout: cfg.SessionTimeout,
		Logger:         log,
		// The front handler checks Host on every route, allowing the
		// configured public host as well as loopback ones; the SDK's own
		// check would refuse a reverse proxy's Host.
		DisableLocalhostProtection: true,
	})
	stateless := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		Stateless:                  true,
		Logger:                     log,
		DisableLocalhostProtection: true,
	})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cfg.Stateless || r.Header.Get("Mcp-Protocol-Version") >= statelessProtocol {
			stateless.ServeHTTP(w, r)
			return
		}
		stateful.ServeHTTP(w, r)
	})
	return &Server{cfg: cfg, log: log, mcp: h, base: base}, nil
}

// Mount registers the MCP endpoint and the protected resource metadata.
func (s *Server) Mount(mux *http.ServeMux) {
	for _, p := range Paths {
		mux.Handle(p, s.protect(p, s.mcp))
		mux.Handle(metadataPath+p, http.HandlerFunc(s.metadata))
	}
	mux.Handle(metadataPath, http.HandlerFunc(s.metadata))
}

// resourceURL is the URL the client used to reach path: built from the
// request's Host when that host is loopback (clients differ in spelling
// localhost, 127.0.0.1 or [::1], and each must see its own URL), else the
// configured public URL.
func (s *Server) resourceURL(r *http.Request, path string) string {
	return s.origin(r) + path
}

func (s *Server) origin(r *http.Request) string {
	if IsLoopbackHost(r.Host) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		return scheme + "://" + strings.ToLower(r.Host)
	}
	return s.cfg.PublicURL
}

// IsLoopbackHost reports whether hostport (a Host header value) names
// this machine's loopback interface: localhost, 127.0.0.1 or [::1], with
// any port.
func IsLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	}
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// sdkAuth hands the token the Guard already verified to go-sdk, which
// keeps it in a context key of its own; the streamable handler binds
// sessions to its UserID, so a session created by one user refuses
// another's token.
func sdkAuth(next http.Handler) http.Handler {
	return auth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		info, ok := VerifiedToken(ctx)
		if !ok {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{
			Scopes:     info.Scopes,
			Expiration: info.Expiry,
			UserID:     info.Subject,
			Extra:      map[string]any{"client_id": info.ClientID},
		}, nil
	}, nil)(next)
}

// countToolCalls reports each tools/call's outcome to f.
func countToolCalls(f func(tool, outcome string)) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			call, ok := req.(*mcp.CallToolRequest)
			if method != "tools/call" || !ok || call.Params == nil {
				return res, err
			}
			outcome := "ok"
			if r, ok := res.(*mcp.CallToolResult); err != nil || !ok {
				outcome = "protocol_error"
			} else if r.IsError {
				outcome = "tool_error"
			}
			f(call.Params.Name, outcome)
			return res, err
		}
	}
}
