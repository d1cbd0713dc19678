package resource

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestGuardCredentials sends every kind of unusable credential to a
// Guard: each gets 401 with a Bearer challenge that names the metadata
// and scope (so the client starts authorization again), with
// error="invalid_request" when credentials were sent but cannot be used.
func TestGuardCredentials(t *testing.T) {
	const good = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"
	verify := func(_ context.Context, tok string) (TokenInfo, error) {
		if tok != good {
			return TokenInfo{}, errors.New("unknown token")
		}
		return TokenInfo{Subject: "u", ClientID: "c", Scopes: []string{ScopeRead}, Audience: []string{"http://127.0.0.1/mcp"}}, nil
	}
	g := &Guard{
		Verify:   verify,
		Resource: func(*http.Request) string { return "http://127.0.0.1/mcp" },
		Metadata: func(*http.Request) string { return "http://127.0.0.1/.well-known/oauth-protected-resource/mcp" },
		Scope:    []string{ScopeRead},
	}
	var reached bool
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, ok := VerifiedToken(r.Context())
		reached = ok && info.Subject == "u"
		w.WriteHeader(http.StatusNoContent)
	}))
	const tail = `resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource/mcp", scope="weather:read"`
	invalidRequest := func(desc string) string {
		return `Bearer error="invalid_request", error_description="` + desc + `", ` + tail
	}
	tests := []struct {
		name          string
		target        string
		headers       []string // Authorization values, one header each
		wantStatus    int
		wantChallenge string
	}{
		{"no header", "/mcp", nil, 401, "Bearer " + tail},
		{"other scheme", "/mcp", []string{"Basic YTpi"}, 401, "Bearer " + tail},
		{"scheme only", "/mcp", []string{"Bearer"}, 401, invalidRequest("the Authorization header says Bearer but holds no token")},
		{"scheme and space", "/mcp", []string{"Bearer "}, 401, invalidRequest("the Authorization header says Bearer but holds no token")},
		{"two tokens", "/mcp", []string{"Bearer a b"}, 401, invalidRequest("the Authorization header holds more than one token")},
		{"tab separator", "/mcp", []string{"Bearer\t" + good}, 401, invalidRequest("separate Bearer from the token with one space")},
		{"very long token", "/mcp", []string{"Bearer " + strings.Repeat("a", 10000)}, 401, invalidRequest("the bearer token is longer than 8192 bytes")},
		{"not b64token", "/mcp", []string{"Bearer a,b"}, 401, invalidRequest("the bearer token has characters RFC 6750 does not allow")},
		{"only padding", "/mcp", []string{"Bearer ==="}, 401, invalidRequest("the bearer token has characters RFC 6750 does not allow")},
		{"two headers", "/mcp", []string{"Bearer " + good, "Bearer " + good}, 401, invalidRequest("send exactly one Authorization header")},
		{"two headers, one empty", "/mcp", []string{"Bearer " + good, ""}, 401, invalidRequest("send exactly one Authorization header")},
		{"token in query", "/mcp?access_token=" + good, nil, 401, invalidRequest("send the access token in the Authorization header, not in the URL")},
		{"token in query and header", "/mcp?access_token=" + good, []string{"Bearer " + good}, 401, invalidRequest("send the access token in the Authorization header, not in the URL")},
		{"unknown token", "/mcp", []string{"Bearer abc"}, 401,
			`Bearer error="invalid_token", error_description="the access token is invalid, expired or revoked", ` + tail},
		{"valid", "/mcp", []string{"Bearer " + good}, 204, ""},
		{"valid, lower-case scheme, two spaces", "/mcp", []string{"bearer  " + good}, 204, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reached = false
			r := httptest.NewRequest(http.MethodPost, tc.target, strings.NewReader(`{}`))
			for _, v := range tc.headers {
				r.Header.Add("Authorization", v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := w.Header().Get("WWW-Authenticate")
			if w.Code != tc.wantStatus || got != tc.wantChallenge {
				t.Errorf("got %d %q\nwant %d %q", w.Code, got, tc.wantStatus, tc.wantChallenge)
			}
			if reached != (tc.wantStatus == 204) {
				t.Errorf("handler reached = %v with status %d", reached, w.Code)
			}
			if w.Code == 401 && w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", w.Header().Get("Cache-Control"))
			}
		})
	}
}
