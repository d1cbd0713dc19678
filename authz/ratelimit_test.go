package authz_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/e2e/browser"
)

func withLoopbackLimits(c *authz.Config) { c.RateLimits.IncludeLoopback = true }

// TestLoginRateLimit brute-forces one account: at most 10 guesses a
// minute get checked, then 429 with Retry-After even for the right
// password; the account opens again once the attack pauses.
func TestLoginRateLimit(t *testing.T) {
	h := newHarness(t)
	b := browser.New(h.base)
	login, err := b.Get(h.base + "/authorize?" + h.authParams(oauth2.GenerateVerifier()).Encode())
	if err != nil {
		t.Fatal(err)
	}
	try := func(pw string) *browser.Page {
		p, err := b.Submit(login.URL, login.Forms[0], url.Values{"username": {testUser}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for i := range 10 {
		if p := try("wrong-password"); p.Status != http.StatusUnauthorized {
			t.Fatalf("guess %d: status %d, want 401", i+1, p.Status)
		}
	}
	p := try(testPassword)
	if p.Status != http.StatusTooManyRequests {
		t.Fatalf("11th attempt: status %d, want 429", p.Status)
	}
	secs, err := strconv.Atoi(p.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 60 {
		t.Errorf("Retry-After %q, want 1..60 seconds", p.Header.Get("Retry-After"))
	}
	h.advance(time.Duration(secs) * time.Second)
	if p := try(testPassword); p.Status != http.StatusSeeOther && p.Status != http.StatusOK {
		t.Errorf("after waiting: status %d, want the sign-in to succeed", p.Status)
	}
	// Another account is not affected by the attack on this one.
	if p, _ := b.Submit(login.URL, login.Forms[0], url.Values{"username": {"someone-else"}, "password": {"x"}}); p.Status != http.StatusUnauthorized {
		t.Errorf("other account: status %d, want 401", p.Status)
	}
}

// TestAddressRateLimits checks the per-address limits on /token and
// /register (applied to loopback here; by default loopback is exempt).
func TestAddressRateLimits(t *testing.T) {
	h := newHarness(t, withLoopbackLimits)
	body := `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`
	limited := 0
	for range 25 {
		if r := h.register(body, "application/json", ""); r.Status == http.StatusTooManyRequests {
			limited++
			if r.Header.Get("Retry-After") == "" || r.Body["error"] != "rate_limited" {
				t.Errorf("429 without Retry-After or error: %v", r.Body)
			}
		}
	}
	if limited != 5 {
		t.Errorf("%d of 25 registrations limited, want 5 (bursts of 20)", limited)
	}
	statuses := map[int]int{}
	for range 300 {
		statuses[h.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {h.public.ID}}, "", "").Status]++
	}
	if statuses[http.StatusTooManyRequests] < 1 {
		t.Errorf("token statuses %v, want some 429 after 300 requests (bursts of 100, 20 a second)", statuses)
	}

	// Loopback is exempt by default.
	d := newHarness(t)
	for i := range 25 {
		if r := d.register(body, "application/json", ""); r.Status != http.StatusCreated {
			t.Fatalf("default limits, registration %d: %d", i, r.Status)
		}
	}
}
