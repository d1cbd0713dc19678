package authz_test

import (
	"net/url"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/e2e/browser"
	"github.com/tenantless/tenantless/storage"
)

func withGrace(d time.Duration) harnessOption {
	return func(c *authz.Config) { c.RefreshReuseGrace = d }
}

// refresh uses a refresh token of the public client.
func (h *harness) refresh(token string) oauthResponse {
	return h.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}, "client_id": {h.public.ID}}, "", "")
}

// grant signs in and returns the first token pair.
func (h *harness) grant() oauthResponse {
	h.t.Helper()
	verifier := oauth2.GenerateVerifier()
	tok := h.exchange(h.code(browser.New(h.base), h.authParams(verifier)), verifier, nil)
	if tok.Status != 200 || tok.RefreshToken == "" {
		h.t.Fatalf("code exchange: %+v", tok)
	}
	return tok
}

// auditCounts counts the audit events of the given types.
func (h *harness) auditCounts(types ...string) map[string]int {
	h.t.Helper()
	got := map[string]int{}
	for _, typ := range types {
		evs, err := h.store.ListAudit(h.t.Context(), storage.AuditFilter{Type: typ})
		if err != nil {
			h.t.Fatal(err)
		}
		got[typ] = len(evs)
	}
	return got
}

// TestRefreshReuseGrace refreshes one token from 16 goroutines at once
// with a 10 s grace period: every refresh succeeds with a working pair,
// the grant survives, and every refresh token handed out works (exactly
// once: its reuse after the grace period revokes the grant).
func TestRefreshReuseGrace(t *testing.T) {
	h := newHarness(t, withGrace(10*time.Second))
	ctx := t.Context()
	first := h.grant()

	const n = 16
	var (
		mu    sync.Mutex
		pairs []oauthResponse
		wg    sync.WaitGroup
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := h.refresh(first.RefreshToken)
			mu.Lock()
			pairs = append(pairs, r)
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()

	seen := map[string]bool{}
	for i, p := range pairs {
		if p.Status != 200 || p.AccessToken == "" || p.RefreshToken == "" {
			t.Fatalf("refresh %d within grace: %d %s %s, want 200 with a pair", i, p.Status, p.Error, p.ErrorDescription)
		}
		if seen[p.RefreshToken] || seen[p.AccessToken] {
			t.Fatalf("refresh %d handed out a token twice", i)
		}
		seen[p.RefreshToken], seen[p.AccessToken] = true, true
		if _, err := h.srv.VerifyAccessToken(ctx, p.AccessToken); err != nil {
			t.Errorf("access token of refresh %d: %v, want valid", i, err)
		}
	}
	if _, err := h.srv.VerifyAccessToken(ctx, first.AccessToken); err == nil {
		t.Errorf("the rotated token's access token still verifies, want it revoked by the rotation")
	}
	want := map[string]int{authz.AuditTokenRefreshed: 1, authz.AuditRefreshReuseGrace: n - 1, authz.AuditRefreshReuse: 0}
	if got := h.auditCounts(authz.AuditTokenRefreshed, authz.AuditRefreshReuseGrace, authz.AuditRefreshReuse); !equalCounts(got, want) {
		t.Errorf("audit events %v, want %v", got, want)
	}

	// Past the grace period, each of the 16 refresh tokens still works once.
	h.advance(11 * time.Second)
	var next []oauthResponse
	for i, p := range pairs {
		r := h.refresh(p.RefreshToken)
		if r.Status != 200 || r.RefreshToken == "" {
			t.Fatalf("refresh token %d of the burst, used once: %d %s %s, want 200", i, r.Status, r.Error, r.ErrorDescription)
		}
		next = append(next, r)
	}
	for i, p := range pairs[1:] {
		if _, err := h.srv.VerifyAccessToken(ctx, p.AccessToken); err == nil {
			t.Errorf("access token %d still verifies after its refresh token rotated", i+1)
		}
	}

	// A second use of one of them, after the grace period, is reuse: the
	// whole grant is revoked.
	h.advance(11 * time.Second)
	if r := h.refresh(pairs[0].RefreshToken); r.Status != 400 || r.Error != "invalid_grant" {
		t.Fatalf("reuse after grace: %d %s, want 400 invalid_grant", r.Status, r.Error)
	}
	for i, p := range next {
		if _, err := h.srv.VerifyAccessToken(ctx, p.AccessToken); err == nil {
			t.Errorf("access token %d still verifies after reuse detection", i)
		}
		if r := h.refresh(p.RefreshToken); r.Status != 400 {
			t.Errorf("refresh token %d after reuse detection: %d, want 400", i, r.Status)
		}
	}
	if got := h.auditCounts(authz.AuditRefreshReuse); got[authz.AuditRefreshReuse] != 1 {
		t.Errorf("refresh.reuse_detected events: %d, want 1", got[authz.AuditRefreshReuse])
	}
}

// TestRefreshReuseGraceLimits checks what the grace period does not
// cover: a reuse after it, a revoked grant, and strict mode.
func TestRefreshReuseGraceLimits(t *testing.T) {
	t.Run("reuse after the grace period revokes", func(t *testing.T) {
		h := newHarness(t, withGrace(10*time.Second))
		first := h.grant()
		second := h.refresh(first.RefreshToken)
		if second.Status != 200 {
			t.Fatalf("refresh: %+v", second)
		}
		h.advance(9 * time.Second)
		third := h.refresh(first.RefreshToken)
		if third.Status != 200 {
			t.Fatalf("reuse 9 s after rotation: %d %s, want 200", third.Status, third.ErrorDescription)
		}
		h.advance(2 * time.Second) // 11 s after the rotation; the reuse did not restart the period
		if r := h.refresh(first.RefreshToken); r.Status != 400 || r.Error != "invalid_grant" {
			t.Fatalf("reuse 11 s after rotation: %d %s, want 400 invalid_grant", r.Status, r.Error)
		}
		for _, tok := range []string{second.RefreshToken, third.RefreshToken} {
			if r := h.refresh(tok); r.Status != 400 {
				t.Errorf("a refresh token of the revoked grant: %d, want 400", r.Status)
			}
		}
		want := map[string]int{authz.AuditRefreshReuseGrace: 1, authz.AuditRefreshReuse: 1}
		if got := h.auditCounts(authz.AuditRefreshReuseGrace, authz.AuditRefreshReuse); !equalCounts(got, want) {
			t.Errorf("audit events %v, want %v", got, want)
		}
	})
	t.Run("a revoked grant gets no grace", func(t *testing.T) {
		h := newHarness(t, withGrace(10*time.Second))
		first := h.grant()
		second := h.refresh(first.RefreshToken)
		if r := h.post("/revoke", url.Values{"token": {second.RefreshToken}, "client_id": {h.public.ID}}, "", ""); r.Status != 200 {
			t.Fatalf("revoke: %d %s", r.Status, r.Error)
		}
		if r := h.refresh(first.RefreshToken); r.Status != 400 {
			t.Errorf("rotated token of a revoked grant within grace: %d, want 400", r.Status)
		}
	})
	t.Run("another client gets no grace", func(t *testing.T) {
		h := newHarness(t, withGrace(10*time.Second))
		first := h.grant()
		if r := h.refresh(first.RefreshToken); r.Status != 200 {
			t.Fatalf("refresh: %+v", r)
		}
		r := h.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}}, h.conf.ID, h.secret)
		if r.Status != 400 || r.Error != "invalid_grant" {
			t.Errorf("another client within grace: %d %s, want 400 invalid_grant", r.Status, r.Error)
		}
	})
	t.Run("zero grace is strict", func(t *testing.T) {
		h := newHarness(t)
		first := h.grant()
		second := h.refresh(first.RefreshToken)
		if r := h.refresh(first.RefreshToken); r.Status != 400 || r.Error != "invalid_grant" {
			t.Fatalf("immediate reuse without grace: %d %s, want 400 invalid_grant", r.Status, r.Error)
		}
		if r := h.refresh(second.RefreshToken); r.Status != 400 {
			t.Errorf("the new refresh token after reuse detection: %d, want 400", r.Status)
		}
	})
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
