package resource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// maxMCPBody bounds a JSON-RPC request body (go-sdk's own default).
const maxMCPBody = 4 << 20

// protect guards the MCP endpoint at path. Every request (POST, GET and
// DELETE alike) needs a bearer token issued for this exact resource URL.
// Answers follow RFC 6750 §3 and the MCP authorization spec:
//   - no token: 401 with resource_metadata and scope;
//   - an invalid, expired, revoked or wrong-audience token: 401 with
//     error="invalid_token";
//   - a tools/call whose tool needs a scope the token lacks: 403 with
//     error="insufficient_scope" and the granted plus required scopes, so
//     clients that replace scopes and clients that union them both succeed.
func (s *Server) protect(path string, next http.Handler) http.Handler {
	inner := sdkAuth(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resource := s.resourceURL(r, path)
		c := challenge{metadata: s.origin(r) + metadataPath + path, scope: []string{ScopeRead}}
		if r.Method == http.MethodOptions {
			s.preflight(w)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !s.allowedOrigin(origin) {
			// MCP transport spec: an invalid Origin gets 403.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":"forbidden_origin","error_description":"requests from this Origin are not allowed"}`))
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version")

		tok, status := bearerToken(r)
		switch status {
		case tokenMissing:
			c.write(w, http.StatusUnauthorized, "", "")
			return
		case tokenMalformed:
			c.write(w, http.StatusBadRequest, "invalid_request", "send exactly one Authorization: Bearer header")
			return
		}
		info, err := s.cfg.Verify(r.Context(), tok)
		if errors.Is(err, ErrUnavailable) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"temporarily_unavailable","error_description":"the token cannot be checked now; retry in a moment"}`))
			return
		}
		if err != nil {
			c.write(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked")
			return
		}
		if !slices.Contains(info.Audience, resource) {
			c.write(w, http.StatusUnauthorized, "invalid_token", "the access token was not issued for "+resource)
			return
		}
		if r.Method == http.MethodPost {
			needed, err := s.scopesFor(r)
			if err != nil {
				// An unreadable body: let the MCP handler answer it in
				// JSON-RPC terms (or with 413).
				needed = nil
			}
			var missing []string
			for _, sc := range needed {
				if !slices.Contains(info.Scopes, sc) {
					missing = append(missing, sc)
				}
			}
			if len(missing) > 0 {
				c.scope = union(info.Scopes, needed)
				c.write(w, http.StatusForbidden, "insufficient_scope", "this call needs the scope "+strings.Join(missing, " "))
				s.log.Info("scope step-up required", "client_id", info.ClientID, "missing", strings.Join(missing, " "))
				return
			}
		}
		ti := &auth.TokenInfo{
			Scopes:     info.Scopes,
			Expiration: info.Expiry,
			UserID:     info.Subject,
			Extra:      map[string]any{"client_id": info.ClientID},
		}
		inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenInfoKey{}, ti)))
	})
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

func (s *Server) preflight(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID")
	h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

type tokenStatus int

const (
	tokenOK tokenStatus = iota
	tokenMissing
	tokenMalformed
)

// bearerToken extracts the RFC 6750 §2.1 bearer token. Tokens in the query
// or body are never accepted.
func bearerToken(r *http.Request) (string, tokenStatus) {
	h := r.Header.Values("Authorization")
	if len(h) == 0 {
		return "", tokenMissing
	}
	if len(h) > 1 {
		return "", tokenMalformed
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", tokenMissing // another scheme: challenge for Bearer
	}
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" || len(tok) > 8192 || strings.ContainsAny(tok, " \t\r\n") {
		return "", tokenMalformed
	}
	return tok, tokenOK
}

// scopesFor reads a JSON-RPC POST body (restoring it for the MCP handler)
// and returns the scopes its tool calls need.
func (s *Server) scopesFor(r *http.Request) ([]string, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxMCPBody+1))
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	var msgs []json.RawMessage
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &msgs); err != nil {
			return nil, err
		}
	} else {
		msgs = []json.RawMessage{trimmed}
	}
	var needed []string
	scopes := ToolScopes()
	for _, m := range msgs {
		var call struct {
			Method string `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		if json.Unmarshal(m, &call) != nil || call.Method != "tools/call" {
			continue
		}
		if sc, ok := scopes[call.Params.Name]; ok && !slices.Contains(needed, sc) {
			needed = append(needed, sc)
		}
	}
	return needed, nil
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
