package authz_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestBadInputSweep sends a catalogue of malformed, oversized,
// duplicated-parameter, wrong-method and wrong-content-type requests to
// every route. Each gets the protocol's own error (JSON for the APIs, an
// HTML page for browser routes), never a 5xx, a stack trace or reflected
// markup, and the database does not change.
func TestBadInputSweep(t *testing.T) {
	h := newHarness(t)
	const form = "application/x-www-form-urlencoded"
	const hostile = `<script>alert(1)</script>`
	big := strings.Repeat("a", 70<<10)
	valid := h.authParams(oauth2.GenerateVerifier())
	dupState := h.authParams(oauth2.GenerateVerifier())
	dupState["state"] = []string{"state-one-1234", "state-two-1234"}
	dupClient := h.authParams(oauth2.GenerateVerifier())
	dupClient["client_id"] = []string{h.public.ID, h.conf.ID}
	hostileParams := h.authParams(oauth2.GenerateVerifier())
	hostileParams.Set("client_id", hostile)

	tests := []struct {
		name, method, path, contentType, body string
		header                                http.Header
		wantStatus                            int
		wantError                             string // JSON error code; "" for none
		wantHTML                              bool
	}{
		// /authorize
		{"authorize PUT", "PUT", "/authorize", "", "", nil, 405, "", true},
		{"authorize DELETE", "DELETE", "/authorize", "", "", nil, 405, "", true},
		{"authorize no parameters", "GET", "/authorize", "", "", nil, 401, "", true},
		{"authorize duplicated client_id", "GET", "/authorize?" + dupClient.Encode(), "", "", nil, 400, "", true},
		{"authorize hostile client_id", "GET", "/authorize?" + hostileParams.Encode(), "", "", nil, 401, "", true},
		{"authorize bad escape", "GET", "/authorize?client_id=%zz", "", "", nil, 400, "", true},
		{"authorize POST without CSRF", "POST", "/authorize", form, valid.Encode(), http.Header{"Sec-Fetch-Site": {"same-origin"}}, 403, "", true},
		{"authorize POST cross-site", "POST", "/authorize", form, valid.Encode(), http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403, "", true},
		{"authorize POST oversized", "POST", "/authorize", form, "state=" + big, nil, 400, "", true},
		// /login, /logout
		{"login GET", "GET", "/login", "", "", nil, 405, "", true},
		{"login without CSRF", "POST", "/login", form, "username=alice&password=x", nil, 403, "", true},
		{"login oversized", "POST", "/login", form, "username=" + big, nil, 400, "", true},
		{"login JSON", "POST", "/login", "application/json", `{"username":"alice"}`, nil, 403, "", true},
		{"logout GET", "GET", "/logout", "", "", nil, 405, "", true},
		{"logout without CSRF", "POST", "/logout", form, "", nil, 403, "", true},
		// /token
		{"token GET", "GET", "/token", "", "", nil, 405, "invalid_request", false},
		{"token JSON body", "POST", "/token", "application/json", `{"grant_type":"authorization_code"}`, nil, 400, "invalid_request", false},
		{"token no content type", "POST", "/token", "", "grant_type=authorization_code", nil, 400, "invalid_request", false},
		{"token empty", "POST", "/token", form, "", nil, 400, "invalid_request", false},
		{"token oversized", "POST", "/token", form, "grant_type=" + big, nil, 400, "invalid_request", false},
		{"token duplicated grant_type", "POST", "/token", form, "grant_type=authorization_code&grant_type=refresh_token&code=x", nil, 400, "invalid_request", false},
		{"token duplicated code", "POST", "/token", form, "grant_type=authorization_code&code=a&code=b&client_id=" + h.public.ID, nil, 400, "invalid_request", false},
		{"token parameters in URL", "POST", "/token?code=x", form, "grant_type=authorization_code", nil, 400, "invalid_request", false},
		{"token bad escape", "POST", "/token", form, "grant_type=%zz", nil, 400, "invalid_request", false},
		{"token refresh garbage", "POST", "/token", form, "grant_type=refresh_token&refresh_token=" + hostile + "&client_id=" + h.public.ID, nil, 400, "invalid_grant", false},
		{"token implicit", "POST", "/token", form, "grant_type=implicit", nil, 400, "unsupported_grant_type", false},
		{"token malformed basic", "POST", "/token", form, "grant_type=refresh_token&refresh_token=x", http.Header{"Authorization": {"Basic %%%"}}, 400, "invalid_request", false},
		// /revoke
		{"revoke GET", "GET", "/revoke", "", "", nil, 405, "invalid_request", false},
		{"revoke JSON", "POST", "/revoke", "application/json", `{"token":"x"}`, nil, 400, "invalid_request", false},
		{"revoke no client", "POST", "/revoke", form, "token=abc", nil, 400, "invalid_request", false},
		{"revoke duplicated token", "POST", "/revoke", form, "token=a&token=b&client_id=" + h.public.ID, nil, 400, "invalid_request", false},
		{"revoke oversized", "POST", "/revoke", form, "token=" + big, nil, 400, "invalid_request", false},
		// /introspect
		{"introspect GET", "GET", "/introspect", "", "", nil, 405, "invalid_request", false},
		{"introspect no auth", "POST", "/introspect", form, "token=x", nil, 401, "invalid_client", false},
		{"introspect JSON", "POST", "/introspect", "application/json", `{}`, http.Header{"Authorization": {"Basic eDp5"}}, 400, "invalid_request", false},
		// /register
		{"register GET", "GET", "/register", "", "", nil, 405, "invalid_request", false},
		{"register form body", "POST", "/register", form, "redirect_uris=x", nil, 400, "invalid_client_metadata", false},
		{"register empty", "POST", "/register", "application/json", "", nil, 400, "invalid_client_metadata", false},
		{"register array", "POST", "/register", "application/json", `[]`, nil, 400, "invalid_client_metadata", false},
		{"register oversized", "POST", "/register", "application/json", `{"client_name":"` + big + `"}`, nil, 400, "invalid_client_metadata", false},
		{"register hostile redirect", "POST", "/register", "application/json", `{"redirect_uris":["` + hostile + `"]}`, nil, 400, "invalid_redirect_uri", false},
		{"register numbers", "POST", "/register", "application/json", `{"redirect_uris":[1,2]}`, nil, 400, "invalid_client_metadata", false},
		{"register deep nesting", "POST", "/register", "application/json", strings.Repeat("[", 10000), nil, 400, "invalid_client_metadata", false},
		{"registration read without token", "GET", "/register/" + h.public.ID, "", "", nil, 401, "invalid_token", false},
		{"registration PATCH", "PATCH", "/register/x", "", "", nil, 405, "invalid_request", false},
		// metadata and keys
		{"metadata POST", "POST", "/.well-known/oauth-authorization-server", "", "", nil, 405, "invalid_request", false},
		{"jwks DELETE", "DELETE", "/jwks.json", "", "", nil, 405, "invalid_request", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.snapshot()
			req, err := http.NewRequest(tc.method, h.base+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			for k, v := range tc.header {
				req.Header[k] = v
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			body := string(raw)
			if res.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d: %.300s", res.StatusCode, tc.wantStatus, body)
			}
			if strings.Contains(body, "goroutine ") || strings.Contains(body, "panic") || strings.Contains(body, hostile) {
				t.Errorf("body leaks a stack trace or reflects markup: %.300s", body)
			}
			ct := res.Header.Get("Content-Type")
			if tc.wantHTML {
				if !strings.HasPrefix(ct, "text/html") || res.Header.Get("X-Frame-Options") != "DENY" {
					t.Errorf("Content-Type %q, X-Frame-Options %q; want an HTML page with anti-framing", ct, res.Header.Get("X-Frame-Options"))
				}
			} else {
				var e struct {
					Error string `json:"error"`
				}
				if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(raw, &e) != nil || e.Error != tc.wantError {
					t.Errorf("Content-Type %q, body %.200s; want JSON error %q", ct, body, tc.wantError)
				}
			}
			h.unchanged(before)
		})
	}
}
