package authz_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/e2e/browser"
	"github.com/tenantless/tenantless/storage"
)

// TestResourcesThroughTheServer adds and deletes a resource with the
// server's own methods: both take effect at once (no reload interval),
// and --revoke's grants stop verifying at once.
func TestResourcesThroughTheServer(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	const notes = "https://notes.example/mcp"
	rec, err := h.srv.AddResource(ctx, authz.NewResource{URL: "HTTPS://Notes.Example/mcp", Scopes: []string{"notes:read", "notes:read"}, Name: "Notes"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.URL != notes || !slices.Equal(rec.Scopes, []string{"notes:read"}) || rec.Source != storage.ResourceSourceCLI {
		t.Errorf("AddResource returned %+v, want the canonical URL, one scope, source cli", rec)
	}
	if got := h.srv.Metadata().ScopesSupported; !slices.Equal(got, []string{"weather:read", "weather:alerts", "notes:read"}) {
		t.Errorf("scopes_supported %v at once after AddResource", got)
	}
	if got := h.srv.Resources(); len(got) != 2 || got[0].Source != storage.ResourceSourceBuiltin || got[1].URL != notes {
		t.Errorf("Resources() %+v, want the built-in one, then notes", got)
	}

	for _, tc := range []struct {
		name string
		n    authz.NewResource
		want string
	}{
		{"taken URL", authz.NewResource{URL: notes, Scopes: []string{"x:y"}}, "already registered"},
		{"built-in URL", authz.NewResource{URL: h.base + "/mcp/stream", Scopes: []string{"x:y"}}, "tenantless serves itself"},
		{"taken scope", authz.NewResource{URL: "https://b.example/mcp", Scopes: []string{"notes:read"}}, `scope "notes:read" already belongs to resource ` + notes},
		{"no scope", authz.NewResource{URL: "https://b.example/mcp"}, "at least one scope"},
		{"not http", authz.NewResource{URL: "urn:example:mcp", Scopes: []string{"x:y"}}, "absolute URI"},
		{"ftp", authz.NewResource{URL: "ftp://b.example/mcp", Scopes: []string{"x:y"}}, "http or https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := h.srv.AddResource(ctx, tc.n); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("AddResource: %v, want an error saying %q", err, tc.want)
			}
		})
	}

	v := oauth2.GenerateVerifier()
	p := h.authParams(v)
	p.Set("resource", notes)
	p.Set("scope", "notes:read")
	tok := h.exchange(h.code(browser.New(h.base), p), v, map[string][]string{"resource": {notes}})
	if tok.Status != 200 {
		t.Fatalf("token for notes: %d %s", tok.Status, tok.Error)
	}
	at, err := h.srv.VerifyAccessToken(ctx, tok.AccessToken)
	if err != nil || !slices.Equal(at.Audience, []string{notes}) || !slices.Equal(at.Scopes, []string{"notes:read"}) {
		t.Fatalf("notes token: %+v %v", at, err)
	}

	if _, err := h.srv.DeleteResource(ctx, h.resource, true); err == nil || !strings.Contains(err.Error(), "cannot be deleted") {
		t.Errorf("deleting the built-in resource: %v, want refused", err)
	}
	if _, err := h.srv.DeleteResource(ctx, "https://unknown.example/mcp", false); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("deleting an unknown resource: %v, want ErrNotFound", err)
	}
	if _, err := h.srv.DeleteResource(ctx, notes, true); err != nil {
		t.Fatal(err)
	}
	u, err := h.store.GetUserByUsername(ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := h.store.GetConsent(ctx, u.ID, h.public.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("consent for notes only, after deleting notes: %+v %v, want it gone", c, err)
	}
	if _, err := h.srv.VerifyAccessToken(ctx, tok.AccessToken); err == nil {
		t.Error("a token of a resource deleted with revoke still verifies at once")
	}
	r := h.post("/token", map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {h.public.ID}}, "", "")
	if r.Status != 400 {
		t.Errorf("refresh of a revoked resource's grant: %d %s, want 400", r.Status, r.Error)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(h.base + "/authorize?" + p.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc, _ := res.Location(); res.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("error") != "invalid_target" {
		t.Errorf("authorization for a deleted resource: %d %v, want a redirect with invalid_target", res.StatusCode, loc)
	}
	var md struct {
		Scopes []string `json:"scopes_supported"`
	}
	mres, err := http.Get(h.base + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer mres.Body.Close()
	if err := json.NewDecoder(mres.Body).Decode(&md); err != nil || slices.Contains(md.Scopes, "notes:read") {
		t.Errorf("scopes_supported %v after the delete, want notes:read gone (%v)", md.Scopes, err)
	}
}
