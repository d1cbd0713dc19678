package authz_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/e2e/browser"
	"github.com/tenantless/tenantless/storage"
)

func (h *harness) jwksKIDs() []string {
	h.t.Helper()
	res, err := http.Get(h.base + "/jwks.json")
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		h.t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		if _, ok := k["d"]; ok {
			h.t.Fatalf("JWKS serves a private key: %v", k)
		}
		kids = append(kids, k["kid"].(string))
	}
	return kids
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	p, err := josejwt.ParseSigned(token)
	if err != nil {
		t.Fatal(err)
	}
	return p.Headers[0].KeyID
}

// TestKeyRotation rotates the signing key as the CLI does: new tokens are
// signed with the new key, old tokens keep verifying, and the old public
// key leaves the JWKS once every token it signed has expired. Automatic
// rotation follows the configured period.
func TestKeyRotation(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	issue := func() oauthResponse {
		v := oauth2.GenerateVerifier()
		return h.exchange(h.code(browser.New(h.base), h.authParams(v)), v, nil)
	}
	old := issue()
	k1 := kidOf(t, old.AccessToken)

	k2, err := authz.RotateSigningKey(ctx, h.store, time.Now(), storage.ActorCLI)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.RefreshKeys(ctx, 0); err != nil {
		t.Fatal(err)
	}
	fresh := issue()
	if got := kidOf(t, fresh.AccessToken); got != k2 {
		t.Errorf("token after rotation signed with %s, want the new key %s", got, k2)
	}
	if kids := h.jwksKIDs(); len(kids) != 2 || !slices.Contains(kids, k1) || !slices.Contains(kids, k2) {
		t.Errorf("JWKS kids %v, want %s and %s", kids, k2, k1)
	}
	h.advance(11 * time.Second) // past the verification cache
	if _, err := h.srv.VerifyAccessToken(ctx, old.AccessToken); err != nil {
		t.Errorf("token signed with the retired key no longer verifies: %v", err)
	}
	// A refresh of the old grant is signed with the new key.
	r := h.post("/token", map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {old.RefreshToken}, "client_id": {h.public.ID}}, "", "")
	if r.Status != 200 || kidOf(t, r.AccessToken) != k2 {
		t.Errorf("refresh after rotation: %d, kid %s", r.Status, kidOf(t, r.AccessToken))
	}

	// Once every token of the old key has expired (1 h), it leaves the JWKS.
	h.advance(time.Hour + 2*time.Minute)
	if err := h.srv.RefreshKeys(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if kids := h.jwksKIDs(); len(kids) != 1 || kids[0] != k2 {
		t.Errorf("JWKS kids %v after the old key's tokens expired, want [%s]", kids, k2)
	}

	// Automatic rotation once the current key is older than the period.
	if err := h.srv.RefreshKeys(ctx, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if kids := h.jwksKIDs(); len(kids) != 1 {
		t.Errorf("rotated before the period: %v", kids)
	}
	h.advance(24 * time.Hour)
	if err := h.srv.RefreshKeys(ctx, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if kids := h.jwksKIDs(); len(kids) != 2 || !slices.Contains(kids, k2) {
		t.Errorf("after the rotation period JWKS kids %v, want a new key before %s", kids, k2)
	}
}
