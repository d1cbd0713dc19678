package authz_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/e2e/browser"
)

// TestTokenRejects sends failing token requests for a valid code. None
// may change the database, so the code still works afterwards.
func TestTokenRejects(t *testing.T) {
	h := newHarness(t)
	b := browser.New(h.base)
	verifier := oauth2.GenerateVerifier()
	code := h.code(b, h.authParams(verifier))

	tests := []struct {
		name       string
		form       url.Values // overrides of a valid exchange
		user, pass string
		wantStatus int
		wantError  string
	}{
		{"wrong code_verifier", url.Values{"code_verifier": {oauth2.GenerateVerifier()}}, "", "", 400, "invalid_grant"},
		{"missing code_verifier", url.Values{"code_verifier": {""}}, "", "", 400, "invalid_grant"},
		{"short code_verifier", url.Values{"code_verifier": {"abc"}}, "", "", 400, "invalid_grant"},
		{"wrong redirect_uri", url.Values{"redirect_uri": {"http://127.0.0.1:40001/callback"}}, "", "", 400, "invalid_grant"},
		{"missing redirect_uri", url.Values{"redirect_uri": {""}}, "", "", 400, "invalid_grant"},
		{"resource not granted", url.Values{"resource": {h.base + "/mcp/stream"}}, "", "", 400, "invalid_target"},
		{"unknown resource", url.Values{"resource": {"https://evil.example/mcp"}}, "", "", 400, "invalid_target"},
		{"other client", url.Values{"client_id": {h.conf.ID}}, h.conf.ID, h.secret, 400, "invalid_grant"},
		{"unknown client", url.Values{"client_id": {"nobody"}}, "", "", 401, "invalid_client"},
		{"wrong secret", url.Values{"client_id": {""}}, h.conf.ID, "wrong", 401, "invalid_client"},
		{"unknown code", url.Values{"code": {"ory_ac_bogus.bogus"}}, "", "", 400, "invalid_grant"},
		{"unsupported grant", url.Values{"grant_type": {"password"}}, "", "", 400, "unsupported_grant_type"},
		{"client_credentials", url.Values{"grant_type": {"client_credentials"}}, "", "", 400, "unsupported_grant_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.snapshot()
			form := url.Values{
				"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
				"redirect_uri": {"http://127.0.0.1:40000/callback"}, "client_id": {h.public.ID}, "resource": {h.resource},
			}
			for k, v := range tc.form {
				form[k] = v
			}
			r := h.post("/token", form, tc.user, tc.pass)
			if r.Status != tc.wantStatus || r.Error != tc.wantError {
				t.Errorf("got %d %q (%s), want %d %q", r.Status, r.Error, r.ErrorDescription, tc.wantStatus, tc.wantError)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
			}
			h.unchanged(before)
		})
	}

	// After all of that, the code still works once.
	ok := h.exchange(code, verifier, url.Values{"resource": {h.resource}})
	if ok.Status != 200 || ok.AccessToken == "" || ok.RefreshToken == "" {
		t.Fatalf("exchange after failed attempts: %d %+v", ok.Status, ok)
	}
	if ok.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response Cache-Control %q, want no-store", ok.Header.Get("Cache-Control"))
	}
	// Replay: refused, and the tokens the code produced are revoked.
	replay := h.exchange(code, verifier, nil)
	if replay.Status != 400 || replay.Error != "invalid_grant" {
		t.Errorf("replayed code: %d %q, want 400 invalid_grant", replay.Status, replay.Error)
	}
	if h.introspectActive(ok.AccessToken) {
		t.Error("access token still active after its code was replayed")
	}
	if r := h.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ok.RefreshToken}, "client_id": {h.public.ID}}, "", ""); r.Status != 400 {
		t.Errorf("refresh token after code replay: status %d, want 400", r.Status)
	}
}

// TestConcurrentCodeExchange redeems one code from many goroutines:
// exactly one wins, the rest get invalid_grant, none a server error.
func TestConcurrentCodeExchange(t *testing.T) {
	h := newHarness(t)
	verifier := oauth2.GenerateVerifier()
	code := h.code(browser.New(h.base), h.authParams(verifier))
	statuses := parallel(10, func() oauthResponse { return h.exchange(code, verifier, nil) })
	if statuses[200] != 1 || statuses[400] != 9 {
		t.Errorf("statuses %v, want one 200 and nine 400", statuses)
	}
}

// TestConcurrentRefresh refreshes one token from many goroutines: exactly
// one rotation succeeds.
func TestConcurrentRefresh(t *testing.T) {
	h := newHarness(t)
	verifier := oauth2.GenerateVerifier()
	tok := h.exchange(h.code(browser.New(h.base), h.authParams(verifier)), verifier, nil)
	if tok.RefreshToken == "" {
		t.Fatalf("no refresh token: %+v", tok)
	}
	statuses := parallel(10, func() oauthResponse {
		return h.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {h.public.ID}}, "", "")
	})
	if statuses[200] != 1 || statuses[400] != 9 {
		t.Errorf("statuses %v, want one 200 and nine 400", statuses)
	}
}

func parallel(n int, f func() oauthResponse) map[int]int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	counts := map[int]int{}
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := f()
			mu.Lock()
			counts[r.Status]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return counts
}

// TestIntrospectionAndRevocation covers client authentication at
// /introspect and the effect of /revoke.
func TestIntrospectionAndRevocation(t *testing.T) {
	h := newHarness(t)
	verifier := oauth2.GenerateVerifier()
	tok := h.exchange(h.code(browser.New(h.base), h.authParams(verifier)), verifier, nil)
	tests := []struct {
		name       string
		user, pass string
		bearer     string
		wantStatus int
	}{
		{"no authentication", "", "", "", http.StatusUnauthorized},
		{"bearer token instead of client", "", "", tok.AccessToken, http.StatusUnauthorized},
		{"public client", h.public.ID, "", "", http.StatusUnauthorized},
		{"wrong secret", h.conf.ID, "wrong", "", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.snapshot()
			form := url.Values{"token": {tok.AccessToken}}
			var r oauthResponse
			if tc.bearer != "" {
				req, _ := http.NewRequest(http.MethodPost, h.base+"/introspect", nil)
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
				req.URL.RawQuery = ""
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				r.Status = res.StatusCode
			} else {
				r = h.post("/introspect", form, tc.user, tc.pass)
			}
			if r.Status != tc.wantStatus {
				t.Errorf("status %d, want %d", r.Status, tc.wantStatus)
			}
			h.unchanged(before)
		})
	}
	if !h.introspectActive(tok.AccessToken) || !h.introspectActive(tok.RefreshToken) {
		t.Fatal("fresh tokens not active")
	}
	// Another client cannot revoke this grant's token.
	before := h.snapshot()
	if r := h.post("/revoke", url.Values{"token": {tok.RefreshToken}}, h.conf.ID, h.secret); r.Status != 400 && r.Status != 200 {
		t.Errorf("revoke by another client: status %d", r.Status)
	}
	h.unchanged(before)
	if !h.introspectActive(tok.AccessToken) {
		t.Fatal("another client's revocation revoked the grant")
	}
	if r := h.post("/revoke", url.Values{"token": {tok.AccessToken}, "client_id": {h.public.ID}}, "", ""); r.Status != 200 {
		t.Fatalf("revoke: status %d", r.Status)
	}
	if h.introspectActive(tok.AccessToken) || h.introspectActive(tok.RefreshToken) {
		t.Error("revoking the access token left the grant active")
	}
}

// TestIntrospectionResponses checks what introspection says about each
// kind of token, and that an access token gets the same answer whether it
// is answered from the verification cache or through fosite (which a
// refresh_token hint makes it try first).
func TestIntrospectionResponses(t *testing.T) {
	h := newHarness(t)
	verifier := oauth2.GenerateVerifier()
	tok := h.exchange(h.code(browser.New(h.base), h.authParams(verifier)), verifier, nil)
	introspect := func(form url.Values) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, h.base+"/introspect", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(h.conf.ID, h.secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode != 200 {
			t.Fatalf("introspect %v: status %d, %v", form, res.StatusCode, err)
		}
		if res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("introspect: Cache-Control %q, want no-store", res.Header.Get("Cache-Control"))
		}
		return m
	}
	access := introspect(url.Values{"token": {tok.AccessToken}})
	for k, want := range map[string]any{"active": true, "client_id": h.public.ID, "scope": "weather:read"} {
		if access[k] != want {
			t.Errorf("access token: %s = %v, want %v (%v)", k, access[k], want, access)
		}
	}
	for _, k := range []string{"sub", "exp", "iat", "aud", "username"} {
		if access[k] == nil {
			t.Errorf("access token: no %s in %v", k, access)
		}
	}
	var claims struct {
		JTI string `json:"jti"`
		Sub string `json:"sub"`
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok.AccessToken, ".")[1])
	if err != nil || json.Unmarshal(payload, &claims) != nil || claims.JTI == "" {
		t.Fatalf("access token payload %q: %v", payload, err)
	}
	if access["jti"] != claims.JTI || access["sub"] != claims.Sub {
		t.Errorf("introspection says jti %v sub %v; the token has jti %q sub %q", access["jti"], access["sub"], claims.JTI, claims.Sub)
	}
	again := introspect(url.Values{"token": {tok.AccessToken}})
	viaFosite := introspect(url.Values{"token": {tok.AccessToken}, "token_type_hint": {"refresh_token"}})
	for name, m := range map[string]map[string]any{"second time (cached)": again, "with a refresh_token hint": viaFosite} {
		if !reflect.DeepEqual(m, access) {
			t.Errorf("access token %s: %v, want %v", name, m, access)
		}
	}
	refresh := introspect(url.Values{"token": {tok.RefreshToken}})
	if refresh["active"] != true || refresh["client_id"] != h.public.ID || refresh["sub"] != access["sub"] {
		t.Errorf("refresh token: %v", refresh)
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		active bool
	}{
		{"granted scope", url.Values{"token": {tok.AccessToken}, "scope": {"weather:read"}}, true},
		{"scope not granted", url.Values{"token": {tok.AccessToken}, "scope": {"weather:alerts"}}, false},
		{"refresh token, scope not granted", url.Values{"token": {tok.RefreshToken}, "scope": {"weather:alerts"}}, false},
		{"garbage", url.Values{"token": {"not-a-token"}}, false},
		{"forged JWT", url.Values{"token": {"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"}}, false},
		{"tampered access token", url.Values{"token": {tok.AccessToken[:len(tok.AccessToken)-4] + "AAAA"}}, false},
	} {
		if got := introspect(tc.form); got["active"] != tc.active {
			t.Errorf("%s: %v, want active %t", tc.name, got, tc.active)
		}
	}
	if r := h.post("/introspect", url.Values{"token_type_hint": {"access_token"}}, h.conf.ID, h.secret); r.Status != 400 || r.Error != "invalid_request" {
		t.Errorf("no token: %d %q, want 400 invalid_request", r.Status, r.Error)
	}
}
