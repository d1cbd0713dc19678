package main

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/e2e/browser"
)

// auditRow is an audit event as "tenantless audit --json" prints it.
type auditRow struct {
	Type     string `json:"type"`
	Outcome  string `json:"outcome"`
	Actor    string `json:"actor"`
	UserID   string `json:"user_id"`
	Username string `json:"username"`
	ClientID string `json:"client_id"`
	Detail   string `json:"detail"`
}

func auditLog(t *testing.T, db string, args ...string) []auditRow {
	t.Helper()
	var rows []auditRow
	out := cli(t, "", append([]string{"audit", "--db", db, "--json", "--limit", "1000"}, args...)...)
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, out)
	}
	return rows
}

// TestCLIChangesAudited makes each change the CLI can make and finds each
// in the audit log with actor cli, while the server's own events say
// actor server.
func TestCLIChangesAudited(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	c := addClient(t, db, "--name", "audited", "--redirect-uri", "http://127.0.0.1/callback")
	gone := addClient(t, db, "--name", "deleted", "--redirect-uri", "http://127.0.0.1/callback")
	cli(t, "", "client", "delete", gone.ClientID, "--db", db)
	cli(t, "pw-of-dave-12345\n", "user", "add", "dave", "--db", db)
	cli(t, "new-pw-of-dave-1\n", "user", "passwd", "dave", "--db", db)
	cli(t, "", "user", "delete", "dave", "--db", db)
	cli(t, "", "keys", "rotate", "--db", db)
	var tok initialTokenJSON
	if err := json.Unmarshal([]byte(cli(t, "", "initial-token", "add", "--note", "for ci", "--db", db, "--json")), &tok); err != nil {
		t.Fatal(err)
	}
	cli(t, "", "initial-token", "delete", tok.ID, "--db", db)
	tokenFor(t, srv.base, c.ClientID, "admin", adminPassword, "weather:read", srv.base+"/mcp")
	var grants []grantRow
	if err := json.Unmarshal([]byte(cli(t, "", "grant", "list", "--db", db, "--json")), &grants); err != nil || len(grants) != 1 {
		t.Fatalf("grant list: %v %+v", err, grants)
	}
	cli(t, "", "grant", "revoke", grants[0].GrantID, "--db", db)
	cli(t, "", "resource", "add", "https://notes.example/mcp", "--scopes", "notes:read", "--db", db)
	cli(t, "", "resource", "delete", "https://notes.example/mcp", "--db", db)
	cli(t, "", "token", "--user", "admin", "--resource", srv.base+"/mcp", "--scope", "weather:alerts", "--db", db)

	rows := auditLog(t, db)
	find := func(typ, clientID string) *auditRow {
		for i := range rows {
			if rows[i].Type == typ && (clientID == "" || rows[i].ClientID == clientID) {
				return &rows[i]
			}
		}
		return nil
	}
	for _, want := range []struct{ typ, clientID, detail string }{
		{"client.registered", c.ClientID, "audited"},
		{"client.deleted", gone.ClientID, ""},
		{"user.created", "", "dave"},
		{"user.password_changed", "", "dave"},
		{"user.deleted", "", "dave"},
		{"key.rotated", "", "new signing key"},
		{"initial_token.created", "", tok.ID},
		{"initial_token.deleted", "", tok.ID},
		{"consent.revoked", c.ClientID, grants[0].GrantID},
		{"resource.added", "", "https://notes.example/mcp"},
		{"resource.deleted", "", "https://notes.example/mcp"},
		{"token.issued", authz.CLIClientID, "weather:alerts"},
	} {
		ev := find(want.typ, want.clientID)
		if ev == nil {
			t.Errorf("no %s event (client %q) in the audit log", want.typ, want.clientID)
			continue
		}
		if ev.Actor != "cli" || ev.Outcome != "success" || !strings.Contains(ev.Detail, want.detail) {
			t.Errorf("%s event: %+v, want actor cli, outcome success and a detail with %q", want.typ, *ev, want.detail)
		}
		if strings.Contains(ev.Detail, tok.Token) {
			t.Errorf("%s event holds the initial access token", want.typ)
		}
	}
	if ev := find("token.issued", c.ClientID); ev == nil || ev.Actor != "server" {
		t.Errorf("token.issued event %+v, want actor server", ev)
	}
	// The first start created admin, and said so.
	if created := auditLog(t, db, "--type", "user.created", "--actor", "server"); len(created) != 1 || created[0].Username != "admin" {
		t.Errorf("user.created events of the server: %+v, want the admin created on the first start", created)
	}
	// --actor cli lists exactly the administrator's changes.
	byCLI := auditLog(t, db, "--actor", "cli")
	if len(byCLI) != 13 {
		t.Errorf("audit --actor cli: %d events, want the 13 changes made here: %+v", len(byCLI), byCLI)
	}
	for _, ev := range byCLI {
		if ev.Actor != "cli" {
			t.Errorf("audit --actor cli listed %+v", ev)
		}
	}
	// The table shows the actor too.
	if out := cli(t, "", "audit", "--db", db, "--type", "user.deleted"); !strings.Contains(out, "ACTOR") || !strings.Contains(out, " cli ") {
		t.Errorf("audit table:\n%s", out)
	}
}

// TestGrantRevokeLikeAccountPage: "grant revoke" does what Revoke on the
// account page does: the consent is gone (the next authorization shows
// the consent page), every grant of that user and client is revoked, and
// the event is the same consent.revoked.
func TestGrantRevokeLikeAccountPage(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	c := addClient(t, db, "--name", "revoked", "--redirect-uri", "http://127.0.0.1/callback")
	first := tokenFor(t, srv.base, c.ClientID, "admin", adminPassword, "weather:read", srv.base+"/mcp")
	second := tokenFor(t, srv.base, c.ClientID, "admin", adminPassword, "weather:read", srv.base+"/mcp")
	var grants []grantRow
	if err := json.Unmarshal([]byte(cli(t, "", "grant", "list", "--db", db, "--json")), &grants); err != nil || len(grants) != 2 {
		t.Fatalf("grant list: %v %+v, want two grants", err, grants)
	}
	var res struct {
		Revoked        []string `json:"revoked_grant_ids"`
		ConsentDeleted bool     `json:"consent_deleted"`
	}
	if err := json.Unmarshal([]byte(cli(t, "", "grant", "revoke", grants[0].GrantID, "--db", db, "--json")), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Revoked) != 2 || !res.ConsentDeleted {
		t.Errorf("grant revoke --json: %+v, want both grants revoked and the consent deleted", res)
	}
	for _, tok := range []tokenResponse{first, second} {
		if status, _, _ := postForm(t, srv.base+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {c.ClientID}}, "", ""); status != 400 {
			t.Errorf("refresh of a grant revoked with the CLI: %d, want 400", status)
		}
	}
	if out := cli(t, "", "grant", "list", "--db", db, "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("grant list after revoke: %s, want []", out)
	}
	q := url.Values{"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {"http://127.0.0.1:41003/callback"},
		"state": {"revoke-state-1"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"}, "scope": {"weather:read"}}
	if _, shown, err := browser.New(srv.base).Authorize(srv.base+"/authorize?"+q.Encode(), "admin", adminPassword, "allow"); err != nil || !shown {
		t.Errorf("after grant revoke, consent page shown %v (%v); want it shown, as after Revoke on the account page", shown, err)
	}
	if rows := auditLog(t, db, "--type", "consent.revoked"); len(rows) != 1 || rows[0].ClientID != c.ClientID || rows[0].Actor != "cli" {
		t.Errorf("consent.revoked events %+v, want one of the CLI for %s", rows, c.ClientID)
	}
}

// TestScopesAfterPartialReconsent: a user who allowed weather:read and
// weather:alerts, then re-consents (prompt=consent) unticking alerts, sees
// only weather:read in "grant list" and on the account page, and the old
// grant that held alerts is revoked.
func TestScopesAfterPartialReconsent(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	base := srv.base
	c := addClient(t, db, "--name", "fewer scopes", "--redirect-uri", "http://127.0.0.1/callback")
	wide := tokenFor(t, base, c.ClientID, "admin", adminPassword, "weather:read weather:alerts", base+"/mcp")
	if wide.Scope != "weather:read weather:alerts" {
		t.Fatalf("first grant scope %q", wide.Scope)
	}

	b := browser.New(base)
	verifier := oauth2.GenerateVerifier()
	redirect := "http://127.0.0.1:41004/callback"
	q := url.Values{"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {redirect},
		"state": {"reconsent-state"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"}, "scope": {"weather:read weather:alerts"}, "prompt": {"consent"}}
	p, err := b.Get(base + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if p, err = b.Submit(p.URL, p.Forms[0], url.Values{"username": {"admin"}, "password": {adminPassword}}); err != nil {
		t.Fatal(err)
	}
	var consent *browser.Form
	for i, f := range p.Forms {
		if _, ok := f.Buttons["decision"]; ok {
			consent = &p.Forms[i]
		}
	}
	if consent == nil {
		t.Fatalf("no consent page (%d):\n%.800s", p.Status, p.Body)
	}
	p, err = b.Submit(p.URL, *consent, url.Values{"decision": {"allow"}, "granted_scope": {"weather:read"}})
	if err != nil {
		t.Fatal(err)
	}
	loc, err := p.Location()
	if err != nil {
		t.Fatal(err)
	}
	status, narrow, _ := postForm(t, base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"code_verifier": {verifier}, "redirect_uri": {redirect}, "client_id": {c.ClientID}}, "", "")
	if status != 200 || narrow.Scope != "weather:read" {
		t.Fatalf("token after partial re-consent: %d scope %q, want 200 weather:read", status, narrow.Scope)
	}

	var grants []grantRow
	if err := json.Unmarshal([]byte(cli(t, "", "grant", "list", "--db", db, "--json")), &grants); err != nil {
		t.Fatal(err)
	}
	if len(grants) != 1 || !slices.Equal(grants[0].Scopes, []string{"weather:read"}) {
		t.Errorf("grant list after partial re-consent: %+v, want one grant with [weather:read]", grants)
	}
	if out := cli(t, "", "grant", "list", "--db", db); strings.Contains(out, "weather:alerts") {
		t.Errorf("grant list table still shows weather:alerts:\n%s", out)
	}
	page, err := b.Get(base + "/account")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.Body, "<code>weather:read</code>") || strings.Contains(page.Body, "weather:alerts") {
		t.Errorf("account page after partial re-consent, want weather:read only:\n%.1500s", page.Body)
	}
	if status, _, _ := postForm(t, base+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {wide.RefreshToken}, "client_id": {c.ClientID}}, "", ""); status != 400 {
		t.Errorf("refresh of the earlier grant holding the withheld scope: %d, want 400 (revoked)", status)
	}
	// Asking for alerts again shows the consent page: it was taken back.
	q.Del("prompt")
	q.Set("scope", "weather:alerts")
	if _, shown, err := b.Authorize(base+"/authorize?"+q.Encode(), "admin", adminPassword, "allow"); err != nil || !shown {
		t.Errorf("asking again for a withheld scope: consent shown %v (%v), want the page", shown, err)
	}
}
