package authz_test

import (
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/e2e/browser"
	"github.com/tenantless/tenantless/storage"
)

// TestVerifyAccessTokenCache shows that a token seen before is answered
// without the store, that /revoke still takes effect at once, and that
// the cache is rechecked against the store after a short while.
func TestVerifyAccessTokenCache(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	issue := func() oauthResponse {
		v := oauth2.GenerateVerifier()
		return h.exchange(h.code(browser.New(h.base), h.authParams(v)), v, nil)
	}
	tok := issue()
	at, err := h.srv.VerifyAccessToken(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if at.Subject == "" || at.ClientID != h.public.ID || len(at.Audience) != 1 || at.Audience[0] != h.resource {
		t.Fatalf("verified %+v", at)
	}
	if _, err := h.srv.VerifyAccessToken(ctx, tok.AccessToken+"x"); err == nil {
		t.Error("a tampered token verified")
	}

	// Remove the grant behind the server's back: the cached answer stands
	// (no store read) until the recheck interval passes.
	grants, err := h.store.ListGrantTokens(ctx, at.Subject, h.public.ID)
	if err != nil || len(grants) == 0 {
		t.Fatalf("grant tokens: %v %v", grants, err)
	}
	if _, err := h.store.DeleteGrant(ctx, storage.KindAccess, grants[0].RequestID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.VerifyAccessToken(ctx, tok.AccessToken); err != nil {
		t.Errorf("cached verification went to the store: %v", err)
	}
	h.advance(11 * time.Second)
	if _, err := h.srv.VerifyAccessToken(ctx, tok.AccessToken); err == nil {
		t.Error("a token deleted from the store still verified after the recheck interval")
	}

	// Revocation through the server drops the cached answer at once.
	tok2 := issue()
	if _, err := h.srv.VerifyAccessToken(ctx, tok2.AccessToken); err != nil {
		t.Fatal(err)
	}
	if r := h.post("/revoke", url.Values{"token": {tok2.RefreshToken}, "client_id": {h.public.ID}}, "", ""); r.Status != 200 {
		t.Fatalf("revoke: %d", r.Status)
	}
	if _, err := h.srv.VerifyAccessToken(ctx, tok2.AccessToken); err == nil {
		t.Error("a revoked token still verified from the cache")
	}
}
