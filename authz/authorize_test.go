package authz_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/e2e/browser"
)

// TestAuthorizeRejects sends invalid authorization requests. Errors a
// client can be told about go back to its redirect URI with state and iss;
// an unknown client or unregistered redirect URI gets an HTML page and is
// never redirected. Nothing is stored either way.
func TestAuthorizeRejects(t *testing.T) {
	h := newHarness(t)
	verifier := oauth2.GenerateVerifier()
	tests := []struct {
		name       string
		edit       func(url.Values)
		wantError  string // error in the redirect; "" means an error page
		wantStatus int    // for error pages
	}{
		{"no code_challenge", func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }, "invalid_request", 0},
		{"plain challenge method", func(v url.Values) { v.Set("code_challenge_method", "plain") }, "invalid_request", 0},
		{"challenge without method", func(v url.Values) { v.Del("code_challenge_method") }, "invalid_request", 0},
		{"unknown resource", func(v url.Values) { v.Set("resource", "https://other.example/mcp") }, "invalid_target", 0},
		{"resource with fragment", func(v url.Values) { v.Set("resource", h.resource+"#x") }, "invalid_target", 0},
		{"relative resource", func(v url.Values) { v.Set("resource", "/mcp") }, "invalid_target", 0},
		{"one bad resource of two", func(v url.Values) { v["resource"] = []string{h.resource, "https://evil.example/"} }, "invalid_target", 0},
		{"unknown scope", func(v url.Values) { v.Set("scope", "weather:read admin") }, "invalid_scope", 0},
		{"implicit response type", func(v url.Values) { v.Set("response_type", "token") }, "unsupported_response_type", 0},
		{"short state", func(v url.Values) { v.Set("state", "abc") }, "invalid_state", 0},
		{"fragment response mode", func(v url.Values) { v.Set("response_mode", "fragment") }, "unsupported_response_mode", 0},
		{"unknown client", func(v url.Values) { v.Set("client_id", "nobody") }, "", http.StatusUnauthorized},
		{"missing client", func(v url.Values) { v.Del("client_id") }, "", http.StatusUnauthorized},
		{"unregistered redirect URI", func(v url.Values) { v.Set("redirect_uri", "https://evil.example/callback") }, "", http.StatusBadRequest},
		{"loopback redirect with other path", func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:40000/other") }, "", http.StatusBadRequest},
		{"loopback redirect with query added", func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:40000/callback?x=1") }, "", http.StatusBadRequest},
		{"localhost for 127.0.0.1 registration", func(v url.Values) { v.Set("redirect_uri", "http://localhost:40000/callback") }, "", http.StatusBadRequest},
		{"https for loopback registration", func(v url.Values) { v.Set("redirect_uri", "https://127.0.0.1:40000/callback") }, "", http.StatusBadRequest},
		{"redirect URI with fragment", func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:40000/callback#f") }, "", http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.snapshot()
			params := h.authParams(verifier)
			tc.edit(params)
			p, err := browser.New(h.base).Get(h.base + "/authorize?" + params.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantError == "" {
				if p.Status != tc.wantStatus || p.Header.Get("Location") != "" {
					t.Fatalf("got status %d, Location %q; want %d error page and no redirect", p.Status, p.Header.Get("Location"), tc.wantStatus)
				}
				if !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") || p.Header.Get("X-Frame-Options") != "DENY" {
					t.Errorf("error page Content-Type %q X-Frame-Options %q, want HTML and DENY", p.Header.Get("Content-Type"), p.Header.Get("X-Frame-Options"))
				}
			} else {
				if p.Status != http.StatusSeeOther {
					t.Fatalf("got status %d (%.300s), want 303 to the client", p.Status, p.Body)
				}
				loc, _ := p.Location()
				q := loc.Query()
				if q.Get("error") != tc.wantError || q.Get("iss") != h.base || q.Get("state") != params.Get("state") {
					t.Errorf("redirect %s: got error %q iss %q state %q, want %q, %q, %q", loc, q.Get("error"), q.Get("iss"), q.Get("state"), tc.wantError, h.base, params.Get("state"))
				}
				if loc.Host != "127.0.0.1:40000" {
					t.Errorf("redirected to %s, want the registered loopback URI", loc)
				}
			}
			h.unchanged(before)
		})
	}
}

// TestLoopbackAnyPort checks RFC 8252 §7.3: a loopback redirect URI
// matches on any port, for IP literals and for "localhost".
func TestLoopbackAnyPort(t *testing.T) {
	h := newHarness(t)
	for _, redirect := range []string{"http://127.0.0.1:1234/callback", "http://127.0.0.1/callback", "http://localhost:54321/cb", "http://localhost/cb"} {
		t.Run(redirect, func(t *testing.T) {
			v := h.authParams(oauth2.GenerateVerifier())
			v.Set("redirect_uri", redirect)
			loc, _, err := browser.New(h.base).Authorize(h.base+"/authorize?"+v.Encode(), testUser, testPassword, "allow")
			if err != nil {
				t.Fatal(err)
			}
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirect || loc.Query().Get("code") == "" {
				t.Errorf("redirected to %s, want a code at %s", loc, redirect)
			}
		})
	}
}

// TestConsent covers deny, consent per client, and the page contract.
func TestConsent(t *testing.T) {
	h := newHarness(t)
	b := browser.New(h.base)
	params := h.authParams(oauth2.GenerateVerifier())

	before := h.snapshot()
	loc, shown, err := b.Authorize(h.base+"/authorize?"+params.Encode(), testUser, testPassword, "deny")
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if !shown || q.Get("error") != "access_denied" || q.Get("iss") != h.base || q.Get("state") != params.Get("state") || q.Get("code") != "" {
		t.Fatalf("deny: consent shown %v, redirect %s; want access_denied with iss and state and no code", shown, loc)
	}
	if strings.Contains(h.snapshot(), "consents [") {
		t.Error("deny stored a consent")
	}
	_ = before

	if _, shown, err = b.Authorize(h.base+"/authorize?"+params.Encode(), testUser, testPassword, "allow"); err != nil || !shown {
		t.Fatalf("allow after deny: consent shown %v, err %v; want the page", shown, err)
	}
	if _, shown, err = b.Authorize(h.base+"/authorize?"+params.Encode(), testUser, testPassword, "allow"); err != nil || shown {
		t.Fatalf("second allow: consent shown %v, err %v; want it remembered", shown, err)
	}
	// More scope than consented: the page again.
	params.Set("scope", "weather:read weather:alerts")
	if _, shown, err = b.Authorize(h.base+"/authorize?"+params.Encode(), testUser, testPassword, "allow"); err != nil || !shown {
		t.Fatalf("wider scope: consent shown %v, err %v; want the page", shown, err)
	}
	// prompt=consent forces it.
	params.Set("prompt", "consent")
	if _, shown, err = b.Authorize(h.base+"/authorize?"+params.Encode(), testUser, testPassword, "allow"); err != nil || !shown {
		t.Fatalf("prompt=consent: consent shown %v, err %v; want the page", shown, err)
	}
	// A new client always gets the page, even for a user who consented to another.
	other := h.conf
	p2 := url.Values{
		"response_type": {"code"}, "client_id": {other.ID}, "redirect_uri": {"https://app.example/cb"},
		"state": {"other-client-state"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"},
	}
	page, err := b.Get(h.base + "/authorize?" + p2.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if page.Status != 200 || !strings.Contains(page.Body, `name="decision" value="allow"`) || !strings.Contains(page.Body, "app.example") {
		t.Errorf("new client: status %d; want the consent page naming the redirect host app.example", page.Status)
	}
	for _, hdr := range []string{"X-Frame-Options", "Content-Security-Policy"} {
		if page.Header.Get(hdr) == "" {
			t.Errorf("consent page lacks %s", hdr)
		}
	}
	if !strings.Contains(page.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("CSP %q lacks frame-ancestors 'none'", page.Header.Get("Content-Security-Policy"))
	}
	// prompt=none without consent: consent_required, no page.
	p2.Set("prompt", "none")
	page, err = b.Get(h.base + "/authorize?" + p2.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if loc, err := page.Location(); err != nil || loc.Query().Get("error") != "consent_required" {
		t.Errorf("prompt=none without consent: %v %v, want consent_required", loc, err)
	}
}

// TestFormProtection checks CSRF tokens, cross-origin posts, failed
// sign-in and the open-redirect guard on next.
func TestFormProtection(t *testing.T) {
	h := newHarness(t)
	params := h.authParams(oauth2.GenerateVerifier())
	b := browser.New(h.base)
	login, err := b.Get(h.base + "/authorize?" + params.Encode())
	if err != nil || login.Status != 200 || len(login.Forms) != 1 {
		t.Fatalf("login page: %v status %d forms %d", err, login.Status, len(login.Forms))
	}
	form := login.Forms[0]
	same := http.Header{"Origin": {h.base}, "Sec-Fetch-Site": {"same-origin"}}
	tests := []struct {
		name       string
		vals       url.Values
		header     http.Header
		wantStatus int
	}{
		{"no CSRF token", url.Values{"username": {testUser}, "password": {testPassword}, "next": form.Fields["next"]}, same, http.StatusForbidden},
		{"wrong CSRF token", url.Values{"username": {testUser}, "password": {testPassword}, "csrf_token": {"x"}}, same, http.StatusForbidden},
		{"cross-origin post", url.Values{"username": {testUser}, "password": {testPassword}, "csrf_token": form.Fields["csrf_token"]},
			http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		{"wrong password", url.Values{"username": {testUser}, "password": {"nope-nope"}, "csrf_token": form.Fields["csrf_token"]}, same, http.StatusUnauthorized},
		{"unknown user", url.Values{"username": {"mallory"}, "password": {testPassword}, "csrf_token": form.Fields["csrf_token"]}, same, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.snapshot()
			p, err := b.Post(h.base+"/login", tc.vals, tc.header)
			if err != nil {
				t.Fatal(err)
			}
			if p.Status != tc.wantStatus {
				t.Errorf("status %d, want %d", p.Status, tc.wantStatus)
			}
			h.unchanged(before)
		})
	}
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "/elsewhere"} {
		t.Run("next "+next, func(t *testing.T) {
			p, err := b.Submit(login.URL, form, url.Values{"username": {testUser}, "password": {testPassword}, "next": {next}})
			if err != nil {
				t.Fatal(err)
			}
			if loc := p.Header.Get("Location"); loc != "" || p.Status != 200 {
				t.Errorf("sign-in with next=%q: status %d Location %q, want no redirect", next, p.Status, loc)
			}
		})
	}
}

// TestConsentUntickScope withholds a scope on the consent page: the token
// lacks it, and asking for it again brings the page back.
func TestConsentUntickScope(t *testing.T) {
	h := newHarness(t)
	b := browser.New(h.base)
	verifier := oauth2.GenerateVerifier()
	params := h.authParams(verifier)
	params.Set("scope", "weather:read weather:alerts")
	login, err := b.Get(h.base + "/authorize?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	consent, err := b.Submit(login.URL, login.Forms[0], url.Values{"username": {testUser}, "password": {testPassword}})
	if err != nil || consent.Status != 200 || len(consent.Forms) != 1 {
		t.Fatalf("consent page: %v %d", err, consent.Status)
	}
	form := consent.Forms[0]
	if got := form.Fields["granted_scope"]; len(got) != 2 {
		t.Fatalf("ticked scopes %v, want both ticked by default", got)
	}
	form.Fields["granted_scope"] = []string{"weather:read"} // untick weather:alerts
	done, err := b.Submit(consent.URL, form, url.Values{"decision": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	loc, err := done.Location()
	if err != nil {
		t.Fatal(err)
	}
	tok := h.exchange(loc.Query().Get("code"), verifier, nil)
	at, err := h.srv.VerifyAccessToken(t.Context(), tok.AccessToken)
	if err != nil || strings.Join(at.Scopes, " ") != "weather:read" {
		t.Fatalf("token scopes %v (%v), want only weather:read", at.Scopes, err)
	}
	// Asking for both again: the withheld scope needs consent.
	params.Set("code_challenge", oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()))
	if _, shown, err := b.Authorize(h.base+"/authorize?"+params.Encode(), testUser, testPassword, "allow"); err != nil || !shown {
		t.Errorf("re-asking for the withheld scope: consent shown %v (%v), want the page", shown, err)
	}
	// Unticking everything denies.
	params.Set("prompt", "consent")
	page, err := b.Get(h.base + "/authorize?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	f := page.Forms[0]
	delete(f.Fields, "granted_scope")
	done, err = b.Submit(page.URL, f, url.Values{"decision": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	if loc, err := done.Location(); err != nil || loc.Query().Get("error") != "access_denied" {
		t.Errorf("nothing ticked: %v %v, want access_denied", loc, err)
	}
}
