package main

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/e2e/browser"
)

// TestAccountPageRevoke signs in, authorizes a client, and revokes it on
// the account page: the client's token is refused at /mcp at once.
func TestAccountPageRevoke(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	base, mcpURL := srv.base, srv.base+"/mcp"
	c := addClient(t, db, "--name", "Account test app", "--redirect-uri", "http://127.0.0.1/callback")

	b := browser.New(base)
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {"http://127.0.0.1:41001/callback"},
		"state": {"account-state-1"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"}, "scope": {"weather:read"}, "resource": {mcpURL}}
	loc, _, err := b.Authorize(base+"/authorize?"+q.Encode(), "admin", adminPassword, "allow")
	if err != nil {
		t.Fatal(err)
	}
	status, tok, _ := postForm(t, base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"code_verifier": {verifier}, "redirect_uri": {"http://127.0.0.1:41001/callback"}, "client_id": {c.ClientID}}, "", "")
	if status != 200 {
		t.Fatalf("token: %d", status)
	}
	if r := mcpPost(t, mcpURL, tok.AccessToken, "", initialize, nil); r.Status != 200 {
		t.Fatalf("MCP before revocation: %d", r.Status)
	}

	page, err := b.Get(base + "/account")
	if err != nil {
		t.Fatal(err)
	}
	if page.Status != 200 || !strings.Contains(page.Body, "Account test app") || !strings.Contains(page.Body, c.ClientID) ||
		!strings.Contains(page.Body, "<code>weather:read</code>") {
		t.Fatalf("account page (%d) does not list the application:\n%.1500s", page.Status, page.Body)
	}
	if page.Header.Get("X-Frame-Options") != "DENY" {
		t.Error("account page lacks X-Frame-Options: DENY")
	}
	var revoke *browser.Form
	for i, f := range page.Forms {
		if vals := f.Buttons["client_id"]; len(vals) == 1 && vals[0] == c.ClientID {
			revoke = &page.Forms[i]
		}
	}
	if revoke == nil {
		t.Fatal("no revoke button for the client")
	}
	// A forged revoke without the CSRF token is refused.
	if p, _ := b.Post(base+"/account/revoke", url.Values{"client_id": {c.ClientID}}, nil); p.Status != 403 {
		t.Errorf("revoke without CSRF token: %d, want 403", p.Status)
	}
	after, err := b.Submit(page.URL, *revoke, url.Values{"client_id": {c.ClientID}})
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != 200 || !strings.Contains(after.Body, "Access revoked.") || strings.Contains(after.Body, "Account test app") {
		t.Errorf("after revoking: %d\n%.1000s", after.Status, after.Body)
	}
	if r := mcpPost(t, mcpURL, tok.AccessToken, "", initialize, nil); r.Status != 401 {
		t.Errorf("MCP after revocation on the account page: %d, want 401", r.Status)
	}
	if status, _, _ := postForm(t, base+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {c.ClientID}}, "", ""); status != 400 {
		t.Errorf("refresh after revocation: %d, want 400", status)
	}
	// The next authorization asks for consent again.
	q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()))
	if _, shown, err := b.Authorize(base+"/authorize?"+q.Encode(), "admin", adminPassword, "allow"); err != nil || !shown {
		t.Errorf("after revocation consent shown %v (%v), want the page", shown, err)
	}
	// Sign out from the account page.
	page, _ = b.Get(base + "/account")
	for _, f := range page.Forms {
		if f.Action == "/logout" {
			if p, err := b.Submit(page.URL, f, nil); err != nil || !strings.Contains(p.Body, "signed out") {
				t.Errorf("sign out: %v", err)
			}
		}
	}
	if p, _ := b.Get(base + "/account"); !strings.Contains(p.Body, `name="password"`) {
		t.Error("after signing out the account page does not ask to sign in")
	}
}

// TestAuditAndCLI drives one event of each audited type and checks the
// audit command and the admin CLI's output and exit codes.
func TestAuditAndCLI(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline", "--refresh-reuse-grace", "0") // reuse revokes at once
	base := srv.base
	c := addClient(t, db, "--name", "audit", "--redirect-uri", "http://127.0.0.1/callback")
	tok := tokenFor(t, base, c.ClientID, "admin", adminPassword, "weather:read", base+"/mcp")
	postForm(t, base+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {c.ClientID}}, "", "")
	postForm(t, base+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {c.ClientID}}, "", "") // reuse
	tok2 := tokenFor(t, base, c.ClientID, "admin", adminPassword, "weather:read", base+"/mcp")
	postForm(t, base+"/revoke", url.Values{"token": {tok2.RefreshToken}, "client_id": {c.ClientID}}, "", "")
	// Failed sign-in and denied consent.
	b := browser.New(base)
	q := url.Values{"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {"http://127.0.0.1:41002/callback"},
		"state": {"audit-state-12"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"}, "prompt": {"consent"}}
	p, _ := b.Get(base + "/authorize?" + q.Encode())
	_, _ = b.Submit(p.URL, p.Forms[0], url.Values{"username": {"admin"}, "password": {"not-the-password"}})
	if _, _, err := b.Authorize(base+"/authorize?"+q.Encode(), "admin", adminPassword, "deny"); err != nil {
		t.Fatal(err)
	}
	// A dynamic registration.
	reg := addDCR(t, base)

	var events []struct {
		Type, Outcome, ClientID, Username string
	}
	if err := json.Unmarshal([]byte(cli(t, "", "audit", "--db", db, "--json", "--limit", "1000")), &events); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range events {
		seen[ev.Type+"/"+ev.Outcome] = true
	}
	for _, want := range []string{"client.registered/success", "login/success", "login/failure", "consent.granted/success",
		"consent.denied/failure", "code.issued/success", "token.issued/success", "token.refreshed/success",
		"refresh.reuse_detected/failure", "token.revoked/success"} {
		if !seen[want] {
			t.Errorf("no audit event %s; saw %v", want, seen)
		}
	}
	if out := cli(t, "", "audit", "--db", db, "--client", reg); !strings.Contains(out, "client.registered") || strings.Contains(out, "token.issued") {
		t.Errorf("audit --client %s:\n%s", reg, out)
	}

	// CLI commands, output and exit codes.
	if out := cli(t, "", "client", "show", c.ClientID, "--db", db); !strings.Contains(out, "http://127.0.0.1/callback") {
		t.Errorf("client show:\n%s", out)
	}
	live := tokenFor(t, base, c.ClientID, "admin", adminPassword, "weather:read", base+"/mcp")
	out := cli(t, "", "grant", "list", "--db", db, "--user", "admin", "--json")
	var grants []struct {
		GrantID  string `json:"grant_id"`
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(out), &grants); err != nil || len(grants) == 0 {
		t.Fatalf("grant list --json: %v\n%s", err, out)
	}
	if len(grants) != 1 || grants[0].ClientID != c.ClientID {
		t.Fatalf("grants %+v, want the one live grant of %s", grants, c.ClientID)
	}
	if out := cli(t, "", "grant", "revoke", grants[0].GrantID, "--db", db); !strings.Contains(out, "revoked admin's consent") {
		t.Errorf("grant revoke: %s", out)
	}
	if status, _, _ := postForm(t, base+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {live.RefreshToken}, "client_id": {c.ClientID}}, "", ""); status != 400 {
		t.Errorf("refresh of a grant revoked with the CLI: %d, want 400", status)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"version"}, 0},
		{[]string{"nonsense"}, 2},
		{[]string{"grant", "revoke", "no-such-grant", "--db", db}, 1},
		{[]string{"client", "show", "nobody", "--db", db}, 1},
		{[]string{"user", "delete", "nobody", "--db", db}, 1},
		{[]string{"audit", "--limit", "0", "--db", db}, 2},
		{[]string{"keys", "list", "--db", db}, 0},
		{[]string{"user", "list", "--db", db}, 0},
		{[]string{"grant", "--help"}, 0},
		{[]string{"serve", "--bogus-flag"}, 2},
	} {
		e := testEnv(nil)
		if code := run(t.Context(), tc.args, e); code != tc.code {
			t.Errorf("tenantless %s: exit %d, want %d (%s)", strings.Join(tc.args, " "), code, tc.code, e.Stderr.(*syncBuffer))
		}
	}
}

// addDCR registers a client dynamically and returns its ID.
func addDCR(t *testing.T, base string) string {
	t.Helper()
	res, err := httpPostJSON(base+"/register", `{"client_name":"dcr audit","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res["client_id"].(string)
	if id == "" {
		t.Fatalf("registration: %v", res)
	}
	return id
}
