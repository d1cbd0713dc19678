package authz_test

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/e2e/browser"
	"github.com/tenantless/tenantless/storage"
)

// brokenAudit is a store whose AppendAudit fails while failing is set.
type brokenAudit struct {
	storage.Store
	failing *atomic.Bool
}

func (b brokenAudit) AppendAudit(ctx context.Context, e storage.AuditEvent) error {
	if b.failing.Load() {
		return errors.New("audit log unavailable (test)")
	}
	return b.Store.AppendAudit(ctx, e)
}

// TestIssuanceAndAuditAreOneWrite checks that a code, the tokens and a
// registration are committed together with their audit event: when the
// event cannot be written, nothing is issued or registered, the client gets server_error, and
// the database is unchanged, so the same request succeeds once the audit
// log works again. (The issuance and its event share one transaction,
// which is also what makes the flow one write per endpoint.)
func TestIssuanceAndAuditAreOneWrite(t *testing.T) {
	var failing atomic.Bool
	h := newHarness(t, func(c *authz.Config) { c.Store = brokenAudit{c.Store, &failing} })
	b := browser.New(h.base)
	h.code(b, h.authParams(oauth2.GenerateVerifier())) // sign in and consent once

	// /authorize with a remembered consent: the code is refused.
	verifier := oauth2.GenerateVerifier()
	before := h.snapshot()
	failing.Store(true)
	loc, _, err := b.Authorize(h.base+"/authorize?"+h.authParams(verifier).Encode(), testUser, testPassword, "allow")
	failing.Store(false)
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Query(); got.Get("error") != "server_error" || got.Get("code") != "" || got.Get("state") == "" {
		t.Errorf("authorization with a broken audit log redirected to %s, want error=server_error with state and no code", loc)
	}
	h.unchanged(before)

	// /token: the code is redeemed only when its event is written.
	code := h.code(b, h.authParams(verifier))
	before = h.snapshot()
	failing.Store(true)
	r := h.exchange(code, verifier, nil)
	failing.Store(false)
	if r.Status != 500 || r.Error != "server_error" || r.AccessToken != "" {
		t.Errorf("token with a broken audit log: %d %q, token %t; want 500 server_error and no token", r.Status, r.Error, r.AccessToken != "")
	}
	h.unchanged(before)
	if r = h.exchange(code, verifier, nil); r.Status != 200 || r.RefreshToken == "" {
		t.Fatalf("the same code once the audit log works: %d %q, want 200 with tokens", r.Status, r.Error)
	}
	events, err := h.store.ListAudit(t.Context(), storage.AuditFilter{Type: authz.AuditTokenIssued})
	if err != nil || len(events) != 1 {
		t.Fatalf("token.issued events: %d (%v), want exactly 1", len(events), err)
	}

	// A refresh, likewise.
	before = h.snapshot()
	failing.Store(true)
	rr := h.post("/token", map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {r.RefreshToken}, "client_id": {h.public.ID}}, "", "")
	failing.Store(false)
	if rr.Status != 500 || rr.Error != "server_error" {
		t.Errorf("refresh with a broken audit log: %d %q (%s), want 500 server_error", rr.Status, rr.Error, rr.ErrorDescription)
	}
	h.unchanged(before)
	if rr := h.post("/token", map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {r.RefreshToken}, "client_id": {h.public.ID}}, "", ""); rr.Status != 200 {
		t.Errorf("the same refresh token once the audit log works: %d %q, want 200", rr.Status, rr.Error)
	}

	// A registration, likewise.
	body := `{"client_name":"audited","redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none"}`
	before = h.snapshot()
	failing.Store(true)
	reg := h.register(body, "application/json", "")
	failing.Store(false)
	if reg.Status != 500 || reg.Body["client_id"] != nil {
		t.Errorf("registration with a broken audit log: %d %v, want 500 and no client", reg.Status, reg.Body)
	}
	h.unchanged(before)
	if reg := h.register(body, "application/json", ""); reg.Status != 201 {
		t.Errorf("the same registration once the audit log works: %d, want 201", reg.Status)
	}
}

// TestPKCEFromEarlierVersion redeems a code stored the way earlier
// versions stored it: the challenge in a separate "pkce" row and not in
// the code's row. The verifier is still checked against it.
func TestPKCEFromEarlierVersion(t *testing.T) {
	h := newHarness(t)
	b := browser.New(h.base)
	verifier := oauth2.GenerateVerifier()
	code := h.code(b, h.authParams(verifier))

	db, err := sql.Open("sqlite", "file:"+h.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.ExecContext(t.Context(), `INSERT INTO tokens
		SELECT 'pkce', signature, request_id, client_id, subject, requested_at, expires_at, active, access_signature, data, rotated_at, resource
		FROM tokens WHERE kind = 'code'`)
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("copy the code row to a pkce row: %v (%d rows)", err, n)
	}
	if _, err := db.ExecContext(t.Context(), `UPDATE tokens
		SET data = CAST(json_remove(CAST(data AS TEXT), '$.form.code_challenge', '$.form.code_challenge_method') AS BLOB)
		WHERE kind = 'code'`); err != nil {
		t.Fatal(err)
	}
	var inCode, inPKCE int
	if err := db.QueryRowContext(t.Context(), `SELECT
		(SELECT count(*) FROM tokens WHERE kind = 'code' AND instr(CAST(data AS TEXT), 'code_challenge') > 0),
		(SELECT count(*) FROM tokens WHERE kind = 'pkce' AND instr(CAST(data AS TEXT), 'code_challenge') > 0)`).Scan(&inCode, &inPKCE); err != nil {
		t.Fatal(err)
	}
	if inCode != 0 || inPKCE != 1 {
		t.Fatalf("rows holding the challenge: code %d, pkce %d; want 0 and 1", inCode, inPKCE)
	}
	if r := h.exchange(code, oauth2.GenerateVerifier(), nil); r.Status != 400 || r.Error != "invalid_grant" {
		t.Errorf("wrong verifier against the old pkce row: %d %q, want 400 invalid_grant", r.Status, r.Error)
	}
	if r := h.exchange(code, verifier, nil); r.Status != 200 {
		t.Errorf("right verifier against the old pkce row: %d %q (%s), want 200", r.Status, r.Error, r.ErrorDescription)
	}
}
