package authz_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/e2e/browser"
	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/web"
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

// TestSigningAlgSwitch restarts the server with another algorithm: it
// signs with a new key of that algorithm at once, keeps the retired key
// of the other one in the JWKS (kid, alg, use) until its tokens have
// expired, so those tokens keep verifying, and later rotations keep the
// new algorithm.
func TestSigningAlgSwitch(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	v := oauth2.GenerateVerifier()
	old := h.exchange(h.code(browser.New(h.base), h.authParams(v)), v, nil)
	esKID := kidOf(t, old.AccessToken)

	tmpl, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	var offset time.Duration
	start := time.Now()
	rs, err := authz.New(ctx, authz.Config{
		Store: h.store, Templates: tmpl, Issuer: h.base, Resources: []string{h.resource},
		Scopes: []authz.Scope{{Name: "weather:read"}, {Name: "weather:alerts"}}, SigningAlg: authz.AlgRS256,
		Now: func() time.Time { return start.Add(offset) },
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	rs.Mount(mux)
	ts := httptest.NewServer(mux)
	defer ts.Close()
	jwks := func() map[string]string {
		res, err := http.Get(ts.URL + "/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var set struct {
			Keys []struct{ KID, Alg, Use, Kty string } `json:"keys"`
		}
		if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, k := range set.Keys {
			out[k.KID] = k.Alg + " " + k.Kty + " " + k.Use
		}
		return out
	}
	got := jwks()
	if len(got) != 2 || got[esKID] != "ES256 EC sig" {
		t.Fatalf("JWKS after switching to RS256: %v, want the retired ES256 key %s and an RS256 key", got, esKID)
	}
	var rsKID string
	for kid, desc := range got {
		if kid != esKID {
			rsKID = kid
			if desc != "RS256 RSA sig" {
				t.Errorf("new key %s: %s, want RS256 RSA sig", kid, desc)
			}
		}
	}
	if _, err := rs.VerifyAccessToken(ctx, old.AccessToken); err != nil {
		t.Errorf("an ES256 token issued before the switch: %v, want valid", err)
	}
	minted, err := authz.MintAccessToken(ctx, h.store, authz.Mint{Issuer: h.base, Username: testUser, Resource: h.resource}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if minted.Algorithm != authz.AlgRS256 || minted.KeyID != rsKID {
		t.Errorf("minted with %s %s, want RS256 %s", minted.Algorithm, minted.KeyID, rsKID)
	}
	if at, err := rs.VerifyAccessToken(ctx, minted.AccessToken); err != nil || at.ClientID != authz.CLIClientID || !slices.Equal(at.Audience, []string{h.resource}) {
		t.Errorf("minted token: %+v %v, want valid for %s by %s", at, err, h.resource, authz.CLIClientID)
	}
	if err := rs.RefreshKeys(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := jwks(); len(got) != 2 {
		t.Errorf("JWKS after a maintenance round: %v, want both keys still", got)
	}
	// Rotation keeps the algorithm.
	kid, err := authz.RotateSigningKey(ctx, h.store, time.Now(), storage.ActorCLI)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.RefreshKeys(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := jwks(); got[kid] != "RS256 RSA sig" {
		t.Errorf("rotated key %s: %v, want RS256", kid, got)
	}
	// Once the ES256 key's tokens have expired (1 h), it leaves the JWKS.
	offset = time.Hour + 2*time.Minute
	if err := rs.RefreshKeys(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := jwks(); len(got) != 1 || got[kid] == "" {
		t.Errorf("JWKS after the retired keys' tokens expired: %v, want only %s", got, kid)
	}
}
