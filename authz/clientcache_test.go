package authz_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/e2e/browser"
	"github.com/tenantless/tenantless/storage/sqlite"
)

// TestClientChangesTakeEffect checks the client cache's promise: a change
// this server makes to a client (RFC 7592 update and delete) applies to
// the very next request, and a change another process makes on the same
// database ("tenantless client delete") within ten seconds.
func TestClientChangesTakeEffect(t *testing.T) {
	h := newHarness(t)
	b := browser.New(h.base)
	authorizeURL := func(clientID, redirect string) string {
		q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
			"state": {"cache-state-01"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
			"code_challenge_method": {"S256"}, "scope": {"weather:read"}, "resource": {h.resource}}
		return h.base + "/authorize?" + q.Encode()
	}
	// gotCode runs an authorization and reports whether it ended with a code
	// at the redirect URI.
	gotCode := func(clientID, redirect string) bool {
		t.Helper()
		loc, _, err := b.Authorize(authorizeURL(clientID, redirect), testUser, testPassword, "allow")
		return err == nil && loc.Query().Get("code") != ""
	}
	// refused checks that the server answers with its own error page and no
	// redirect, as for an unknown client or an unregistered redirect URI.
	refused := func(what, clientID, redirect string) {
		t.Helper()
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.Get(authorizeURL(clientID, redirect))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode < 400 || res.Header.Get("Location") != "" {
			t.Errorf("%s: %d Location %q, want an error page and no redirect", what, res.StatusCode, res.Header.Get("Location"))
		}
	}

	r := h.register(`{"client_name":"cached","redirect_uris":["http://127.0.0.1/a"],"token_endpoint_auth_method":"none","grant_types":["authorization_code"]}`, "application/json", "")
	id, tok, uri := r.Body["client_id"].(string), r.Body["registration_access_token"].(string), r.Body["registration_client_uri"].(string)
	if !gotCode(id, "http://127.0.0.1:5000/a") {
		t.Fatal("no code for the registered redirect URI")
	}
	call := func(method, body string) registered {
		req, _ := http.NewRequest(method, uri, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		return h.do(req)
	}
	upd := call("PUT", `{"client_id":"`+id+`","redirect_uris":["http://127.0.0.1/b"],"token_endpoint_auth_method":"none","grant_types":["authorization_code"]}`)
	if upd.Status != 200 {
		t.Fatalf("update: %d", upd.Status)
	}
	tok = upd.Body["registration_access_token"].(string)
	refused("the old redirect URI right after the update", id, "http://127.0.0.1:5000/a")
	if !gotCode(id, "http://127.0.0.1:5000/b") {
		t.Error("no code for the new redirect URI right after the update")
	}
	if got := call("DELETE", ""); got.Status != 204 {
		t.Fatalf("delete: %d", got.Status)
	}
	refused("the client right after its deletion", id, "http://127.0.0.1:5000/b")

	// Another process deletes the pre-registered public client.
	if !gotCode(h.public.ID, "http://127.0.0.1:40000/callback") {
		t.Fatal("no code for the public client")
	}
	other, err := sqlite.Open(t.Context(), sqlite.Config{Path: h.db})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.DeleteClient(t.Context(), h.public.ID); err != nil {
		t.Fatal(err)
	}
	h.advance(10*time.Second + time.Millisecond)
	refused("a client another process deleted, ten seconds later", h.public.ID, "http://127.0.0.1:40000/callback")
}
