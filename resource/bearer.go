package resource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxMCPBody bounds a JSON-RPC request body (go-sdk's own default).
const maxMCPBody = 4 << 20

// Guard is an RFC 6750 bearer-token middleware for MCP endpoints. It is
// independent of what it protects: the weather server builds one per
// path, and a gateway in front of another MCP server can build its own.
// Answers follow RFC 6750 §3 and the MCP authorization spec:
//   - no credentials (no Authorization header, or another scheme): 401
//     with resource_metadata and scope, no error code;
//   - credentials that cannot be used (a malformed or repeated
//     Authorization header, a token in the URL): 401 with
//     error="invalid_request", since MCP clients start authorization
//     again only on 401;
//   - an invalid, expired, revoked or wrong-audience token: 401 with
//     error="invalid_token";
//   - a request needing a scope the token lacks: 403 with
//     error="insufficient_scope" and the granted plus required scopes, so
//     clients that replace scopes and clients that union them both succeed.
//
// Everything else (a bad body, an unknown session) is the wrapped
// handler's to answer, with 400 where it is the client's fault.
type Guard struct {
	// Verify checks the token. Required.
	Verify Verifier
	// Resource returns the URL the token's audience must name for r.
	// Required.
	Resource func(r *http.Request) string
	// Metadata returns the RFC 9728 metadata URL put in challenges for r.
	// Required.
	Metadata func(r *http.Request) string
	// Scope is the scope challenges ask for when no token is sent.
	Scope []string
	// Needs returns the scopes request r needs beyond a valid token; it
	// may read the body but must restore it. Nil means none.
	Needs func(r *http.Request) []string
	// AllowOrigin reports whether a browser Origin may call; nil allows
	// every Origin. A refused Origin gets 403 (MCP transport spec).
	AllowOrigin func(origin string) bool
	// Logger receives step-up notes; nil means discard.
	Logger *slog.Logger
	// Observe, if set, is told what the guard decided about each request
	// (for the auth trace). It must not block.
	Observe func(r *http.Request, o Observation)
	// Intercept, if set, may answer an authorized request with an
	// injected fault instead (the auth trace's fault injection).
	Intercept func(r *http.Request, o Observation) Interception
	// Calls, if set, names the request's JSON-RPC calls ("method" or
	// "tools/call NAME") for Observe and Intercept; it may read the body
	// but must restore it. It is not called when both are nil.
	Calls func(r *http.Request) []string
}

// observe tells g.Observe, if set, the outcome of r.
func (g *Guard) observe(r *http.Request, o Observation, outcome string) {
	if g.Observe == nil {
		return
	}
	o.Outcome = outcome
	g.Observe(r, o)
}

// Wrap returns next behind the guard. next sees the verified token
// through VerifiedToken.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	log := g.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			preflight(w)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && g.AllowOrigin != nil && !g.AllowOrigin(origin) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":"forbidden_origin","error_description":"requests from this Origin are not allowed"}`))
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version")

		c := challenge{metadata: g.Metadata(r), scope: g.Scope}
		resource := g.Resource(r)
		obs := Observation{Resource: resource}
		watched := g.Observe != nil || g.Intercept != nil
		tok, err := BearerToken(r)
		switch {
		case errors.Is(err, ErrNoToken):
			g.observe(r, obs, ObservedNoToken)
			c.write(w, http.StatusUnauthorized, "", "")
			return
		case err != nil:
			g.observe(r, obs, ObservedMalformed)
			c.write(w, http.StatusUnauthorized, "invalid_request", err.Error())
			return
		}
		if watched {
			obs.TokenSHA256 = sha256.Sum256([]byte(tok))
		}
		info, err := g.Verify(r.Context(), tok)
		if errors.Is(err, ErrUnavailable) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"temporarily_unavailable","error_description":"the token cannot be checked now; retry in a moment"}`))
			return
		}
		if err != nil {
			g.observe(r, obs, ObservedInvalidToken)
			c.write(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked")
			return
		}
		obs.Token = info
		if !slices.Contains(info.Audience, resource) {
			g.observe(r, obs, ObservedWrongAudience)
			c.write(w, http.StatusUnauthorized, "invalid_token", "the access token was not issued for "+resource)
			return
		}
		if watched && g.Calls != nil && r.Method == http.MethodPost {
			obs.Calls = g.Calls(r)
		}
		if g.Needs != nil {
			needed := g.Needs(r)
			var missing []string
			for _, sc := range needed {
				if !slices.Contains(info.Scopes, sc) {
					missing = append(missing, sc)
				}
			}
			if len(missing) > 0 {
				obs.Missing = missing
				g.observe(r, obs, ObservedInsufficientScope)
				c.scope = union(info.Scopes, needed)
				c.write(w, http.StatusForbidden, "insufficient_scope", "this call needs the scope "+strings.Join(missing, " "))
				log.Info("scope step-up required", "client_id", info.ClientID, "missing", strings.Join(missing, " "))
				return
			}
		}
		if g.Intercept != nil {
			in := g.Intercept(r, obs)
			if in.StepUpScope != "" {
				obs.Missing = strings.Fields(in.StepUpScope)
				g.observe(r, obs, ObservedStepUpInjected)
				c.scope = union(info.Scopes, obs.Missing)
				c.write(w, http.StatusForbidden, "insufficient_scope", "this call needs the scope "+in.StepUpScope)
				return
			}
			if in.Delay > 0 {
				t := time.NewTimer(in.Delay)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
				}
			}
		}
		g.observe(r, obs, ObservedOK)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), verifiedKey{}, info)))
	})
}

// verifiedKey carries the TokenInfo a Guard verified.
type verifiedKey struct{}

// VerifiedToken returns the token a Guard verified for this request.
func VerifiedToken(ctx context.Context) (TokenInfo, bool) {
	info, ok := ctx.Value(verifiedKey{}).(TokenInfo)
	return info, ok
}

// protect guards the weather server's MCP endpoint at path: a token
// issued for this exact resource URL, on every method, and the tool's
// scope on tools/call.
func (s *Server) protect(path string, next http.Handler) http.Handler {
	g := &Guard{
		Verify:      s.cfg.Verify,
		Resource:    func(r *http.Request) string { return s.resourceURL(r, path) },
		Metadata:    func(r *http.Request) string { return s.origin(r) + metadataPath + path },
		Scope:       []string{ScopeRead},
		Needs:       s.needs,
		AllowOrigin: s.allowedOrigin,
		Logger:      s.log,
		Observe:     s.cfg.Observe,
		Intercept:   s.cfg.Intercept,
		Calls:       s.calls,
	}
	return g.Wrap(sdkAuth(next))
}

// needs is the scopes a POST's tool calls need. An unreadable body needs
// nothing here: the MCP handler answers it in JSON-RPC terms (or with 413).
func (s *Server) needs(r *http.Request) []string {
	if r.Method != http.MethodPost {
		return nil
	}
	needed, _, err := s.scopesFor(r)
	if err != nil {
		return nil
	}
	return needed
}

// calls names a POST's JSON-RPC calls, for the auth trace.
func (s *Server) calls(r *http.Request) []string {
	_, calls, _ := s.scopesFor(r)
	return calls
}

// allowedOrigin accepts browser origins on loopback and the public URL's.
func (s *Server) allowedOrigin(origin string) bool {
	if origin == "null" {
		return false
	}
	if strings.EqualFold(origin, s.base.Scheme+"://"+s.base.Host) {
		return true
	}
	_, hostport, ok := strings.Cut(origin, "://")
	return ok && IsLoopbackHost(hostport)
}

func preflight(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID")
	h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// ErrNoToken means a request carries no bearer credentials at all: no
// Authorization header, or one of another scheme (RFC 6750 §3.1: such a
// challenge carries no error code).
var ErrNoToken = errors.New("no bearer token")

// maxTokenLen bounds a bearer token; tenantless's own are far shorter.
const maxTokenLen = 8192

// BearerToken extracts the RFC 6750 §2.1 bearer token of r. It returns
// ErrNoToken when r has no bearer credentials, and an error whose text
// tells the client what to fix when they cannot be used: several
// Authorization headers, "Bearer" with no token or with more than one,
// a token too long or not in b64token syntax, or a token in the URL
// query (RFC 6750 §2.3 is not supported, and §3.1 forbids sending a
// token two ways).
func BearerToken(r *http.Request) (string, error) {
	if r.URL != nil && r.URL.Query().Has("access_token") {
		return "", errors.New("send the access token in the Authorization header, not in the URL")
	}
	h := r.Header.Values("Authorization")
	if len(h) == 0 {
		return "", ErrNoToken
	}
	if len(h) > 1 {
		return "", errors.New("send exactly one Authorization header")
	}
	v := strings.TrimSpace(h[0])
	scheme, tok, _ := strings.Cut(v, " ")
	if !strings.EqualFold(strings.TrimSpace(scheme), "Bearer") {
		if scheme, _, _ = strings.Cut(v, "\t"); strings.EqualFold(scheme, "Bearer") {
			return "", errors.New("separate Bearer from the token with one space")
		}
		return "", ErrNoToken // another scheme: challenge for Bearer
	}
	tok = strings.TrimLeft(tok, " ")
	switch {
	case tok == "":
		return "", errors.New("the Authorization header says Bearer but holds no token")
	case strings.ContainsAny(tok, " \t"):
		return "", errors.New("the Authorization header holds more than one token")
	case len(tok) > maxTokenLen:
		return "", errors.New("the bearer token is longer than " + strconv.Itoa(maxTokenLen) + " bytes")
	case !isB64Token(tok):
		return "", errors.New("the bearer token has characters RFC 6750 does not allow")
	}
	return tok, nil
}

// isB64Token reports whether s matches RFC 6750 §2.1's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// scopesFor reads a JSON-RPC POST body (restoring it for the MCP handler)
// and returns the scopes its tool calls need, and its calls ("method",
// or "tools/call NAME").
func (s *Server) scopesFor(r *http.Request) ([]string, []string, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxMCPBody+1))
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	var msgs []json.RawMessage
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &msgs); err != nil {
			return nil, nil, err
		}
	} else {
		msgs = []json.RawMessage{trimmed}
	}
	var needed, calls []string
	scopes := ToolScopes()
	for _, m := range msgs {
		var call struct {
			Method string `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		if json.Unmarshal(m, &call) != nil {
			continue
		}
		if call.Method != "tools/call" {
			if call.Method != "" {
				calls = append(calls, call.Method)
			}
			continue
		}
		calls = append(calls, "tools/call "+call.Params.Name)
		if sc, ok := scopes[call.Params.Name]; ok && !slices.Contains(needed, sc) {
			needed = append(needed, sc)
		}
	}
	return needed, calls, nil
}

// challenge is an RFC 6750 §3 WWW-Authenticate challenge.
type challenge struct {
	metadata string
	scope    []string
}

func (c challenge) write(w http.ResponseWriter, status int, code, desc string) {
	var params []string
	if code != "" {
		params = append(params, `error="`+code+`"`)
	}
	if desc != "" {
		params = append(params, `error_description="`+strings.ReplaceAll(desc, `"`, `'`)+`"`)
	}
	params = append(params, `resource_metadata="`+c.metadata+`"`)
	if len(c.scope) > 0 {
		params = append(params, `scope="`+strings.Join(c.scope, " ")+`"`)
	}
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	body := map[string]string{"error": code, "error_description": desc}
	if code == "" {
		body = map[string]string{"error": "unauthorized", "error_description": "an access token is required; see WWW-Authenticate"}
	}
	_ = json.NewEncoder(w).Encode(body)
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
