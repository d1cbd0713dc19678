package authz_test

import (
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/e2e/browser"
	"github.com/tenantless/tenantless/storage"
)

// Registration bodies real clients send, verbatim from
// ../shared/reference/spec-and-clients.md.
var clientBodies = []struct {
	name     string
	body     string
	redirect string // a redirect URI the client then uses
}{
	{"MCP Inspector 2.x", `{"redirect_uris":["http://localhost:6274/oauth/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":"MCP Inspector","client_uri":"https://github.com/modelcontextprotocol/inspector","scope":"","application_type":"native"}`,
		"http://localhost:6274/oauth/callback"},
	{"MCP Inspector v1", `{"redirect_uris":["http://localhost:6274/oauth/callback","http://localhost:6274/oauth/callback/debug"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":"MCP Inspector","client_uri":"https://github.com/modelcontextprotocol/inspector"}`,
		"http://localhost:6274/oauth/callback/debug"},
	{"VS Code", `{"client_name":"Visual Studio Code","client_uri":"https://code.visualstudio.com","grant_types":["authorization_code","refresh_token","urn:ietf:params:oauth:grant-type:device_code"],"response_types":["code"],"redirect_uris":["https://insiders.vscode.dev/redirect","https://vscode.dev/redirect","http://127.0.0.1/","http://127.0.0.1:33418/"],"scope":"weather:read","token_endpoint_auth_method":"none","application_type":"native"}`,
		"http://127.0.0.1:51234/"},
	{"Claude Code", `{"client_name":"Claude Code","redirect_uris":["http://localhost/callback"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}`,
		"http://localhost:61234/callback"},
	{"go-sdk client", `{"redirect_uris":["http://127.0.0.1:43123/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"client_name":"e2e","application_type":"native"}`,
		"http://127.0.0.1:43123/callback"},
	{"confidential web app", `{"redirect_uris":["https://app.example/cb"],"client_name":"Web app"}`, "https://app.example/cb"},
}

type registered struct {
	Status int
	Header http.Header
	Body   map[string]any
}

func (h *harness) register(body, contentType, auth string) registered {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.base+"/register", strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) registered {
	h.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			h.t.Fatalf("response is not JSON: %q", raw)
		}
	}
	return registered{res.StatusCode, res.Header, m}
}

// TestRegisterRealClients registers each real client's body, checks the
// echo, and completes an authorization with the registered client.
func TestRegisterRealClients(t *testing.T) {
	h := newHarness(t)
	for _, tc := range clientBodies {
		t.Run(tc.name, func(t *testing.T) {
			r := h.register(tc.body, "application/json", "")
			if r.Status != http.StatusCreated {
				t.Fatalf("status %d %v, want 201", r.Status, r.Body)
			}
			var sent map[string]any
			_ = json.Unmarshal([]byte(tc.body), &sent)
			id, _ := r.Body["client_id"].(string)
			if id == "" || strings.HasPrefix(id, "https://") {
				t.Fatalf("client_id %q: want a generated ID not starting with https://", id)
			}
			for _, k := range []string{"redirect_uris", "token_endpoint_auth_method", "grant_types", "response_types", "client_id_issued_at", "registration_access_token", "registration_client_uri"} {
				if _, ok := r.Body[k]; !ok {
					t.Errorf("response lacks %s: %v", k, r.Body)
				}
			}
			if got, want := r.Body["redirect_uris"], sent["redirect_uris"]; !equalJSON(got, want) {
				t.Errorf("redirect_uris %v, want %v echoed", got, want)
			}
			if sent["client_name"] != nil && r.Body["client_name"] != sent["client_name"] {
				t.Errorf("client_name %v, want %v", r.Body["client_name"], sent["client_name"])
			}
			grants := r.Body["grant_types"].([]any)
			if slices.Contains(grants, any("urn:ietf:params:oauth:grant-type:device_code")) {
				t.Errorf("unsupported grant kept: %v", grants)
			}
			public := sent["token_endpoint_auth_method"] == "none"
			if _, hasSecret := r.Body["client_secret"]; hasSecret == public {
				t.Errorf("client_secret present=%v for token_endpoint_auth_method %v", hasSecret, r.Body["token_endpoint_auth_method"])
			}
			if !public && r.Body["client_secret_expires_at"] != float64(0) {
				t.Errorf("client_secret_expires_at %v, want 0", r.Body["client_secret_expires_at"])
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
			}

			// The registered client signs a person in for every scope.
			verifier := oauth2.GenerateVerifier()
			q := url.Values{
				"response_type": {"code"}, "client_id": {id}, "redirect_uri": {tc.redirect},
				"state":          {"gXVXo0/iMD8WMolDHKxSTg=="}, // VS Code's base64 state
				"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
				"scope": {"weather:read weather:alerts"}, "resource": {h.resource},
			}
			loc, _, err := browser.New(h.base).Authorize(h.base+"/authorize?"+q.Encode(), testUser, testPassword, "allow")
			if err != nil {
				t.Fatal(err)
			}
			if loc.Query().Get("state") != "gXVXo0/iMD8WMolDHKxSTg==" {
				t.Errorf("state came back as %q", loc.Query().Get("state"))
			}
			form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier},
				"redirect_uri": {tc.redirect}, "resource": {h.resource}}
			var tok oauthResponse
			if public {
				form.Set("client_id", id)
				tok = h.post("/token", form, "", "")
			} else {
				tok = h.post("/token", form, id, r.Body["client_secret"].(string))
			}
			if tok.Status != 200 || tok.AccessToken == "" {
				t.Fatalf("token: %d %+v", tok.Status, tok)
			}
			wantRefresh := slices.Contains(grants, any("refresh_token"))
			if (tok.RefreshToken != "") != wantRefresh {
				t.Errorf("refresh token issued=%v, want %v for grant_types %v", tok.RefreshToken != "", wantRefresh, grants)
			}
		})
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestRegisterRejects checks RFC 7591 errors, and that nothing is stored.
func TestRegisterRejects(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, body, contentType string
		wantError               string
	}{
		{"no redirect_uris", `{"client_name":"x"}`, "application/json", "invalid_redirect_uri"},
		{"empty redirect_uris", `{"redirect_uris":[]}`, "application/json", "invalid_redirect_uri"},
		{"javascript redirect", `{"redirect_uris":["javascript:alert(1)"]}`, "application/json", "invalid_redirect_uri"},
		{"data redirect", `{"redirect_uris":["data:text/html,hi"]}`, "application/json", "invalid_redirect_uri"},
		{"file redirect", `{"redirect_uris":["file:///etc/passwd"]}`, "application/json", "invalid_redirect_uri"},
		{"fragment", `{"redirect_uris":["https://app.example/cb#x"]}`, "application/json", "invalid_redirect_uri"},
		{"userinfo", `{"redirect_uris":["https://user:pw@app.example/cb"]}`, "application/json", "invalid_redirect_uri"},
		{"http non-loopback", `{"redirect_uris":["http://app.example/cb"]}`, "application/json", "invalid_redirect_uri"},
		{"relative", `{"redirect_uris":["/cb"]}`, "application/json", "invalid_redirect_uri"},
		{"redirect_uris a string", `{"redirect_uris":"https://app.example/cb"}`, "application/json", "invalid_client_metadata"},
		{"not JSON", `redirect_uris=https://app.example/cb`, "application/json", "invalid_client_metadata"},
		{"form content type", `{"redirect_uris":["https://app.example/cb"]}`, "application/x-www-form-urlencoded", "invalid_client_metadata"},
		{"trailing data", `{"redirect_uris":["https://app.example/cb"]} {}`, "application/json", "invalid_client_metadata"},
		{"private_key_jwt", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}`, "application/json", "invalid_client_metadata"},
		{"only implicit", `{"redirect_uris":["https://app.example/cb"],"grant_types":["implicit"]}`, "application/json", "invalid_client_metadata"},
		{"token response type", `{"redirect_uris":["https://app.example/cb"],"response_types":["token"]}`, "application/json", "invalid_client_metadata"},
		{"bad client_uri", `{"redirect_uris":["https://app.example/cb"],"client_uri":"javascript:x"}`, "application/json", "invalid_client_metadata"},
		{"bad application_type", `{"redirect_uris":["https://app.example/cb"],"application_type":"robot"}`, "application/json", "invalid_client_metadata"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.snapshot()
			r := h.register(tc.body, tc.contentType, "")
			if r.Status != http.StatusBadRequest || r.Body["error"] != tc.wantError || r.Body["error_description"] == "" {
				t.Errorf("got %d %v, want 400 %s with a description", r.Status, r.Body, tc.wantError)
			}
			h.unchanged(before)
		})
	}
}

// TestRegistrationManagement covers RFC 7592 read, update and delete.
func TestRegistrationManagement(t *testing.T) {
	h := newHarness(t)
	r := h.register(clientBodies[0].body, "application/json", "")
	uri := r.Body["registration_client_uri"].(string)
	tok := r.Body["registration_access_token"].(string)
	id := r.Body["client_id"].(string)
	call := func(method, token, body string) registered {
		req, _ := http.NewRequest(method, uri, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", "application/json")
		return h.do(req)
	}
	for _, bad := range []string{"", "wrong"} {
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			before := h.snapshot()
			if got := call(m, bad, `{}`); got.Status != 401 || !strings.Contains(got.Header.Get("WWW-Authenticate"), "invalid_token") {
				t.Errorf("%s with token %q: %d %q, want 401 invalid_token", m, bad, got.Status, got.Header.Get("WWW-Authenticate"))
			}
			h.unchanged(before)
		}
	}
	read := call("GET", tok, "")
	if read.Status != 200 || read.Body["client_id"] != id || read.Body["client_name"] != "MCP Inspector" {
		t.Fatalf("read: %d %v", read.Status, read.Body)
	}
	tok = read.Body["registration_access_token"].(string)
	upd := call("PUT", tok, `{"client_id":"`+id+`","redirect_uris":["http://localhost:6274/oauth/callback","http://127.0.0.1:6276/oauth/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"client_name":"Inspector renamed"}`)
	if upd.Status != 200 || upd.Body["client_name"] != "Inspector renamed" || len(upd.Body["redirect_uris"].([]any)) != 2 {
		t.Fatalf("update: %d %v", upd.Status, upd.Body)
	}
	tok = upd.Body["registration_access_token"].(string)
	if got := call("PUT", tok, `{"client_id":"other","redirect_uris":["http://localhost/cb"],"token_endpoint_auth_method":"none"}`); got.Status != 400 {
		t.Errorf("update with another client_id: %d, want 400", got.Status)
	}
	if got := call("PUT", tok, `{"client_id":"`+id+`","redirect_uris":["http://localhost/cb"],"token_endpoint_auth_method":"client_secret_basic"}`); got.Status != 400 {
		t.Errorf("update from none to a secret method: %d, want 400", got.Status)
	}
	if got := call("DELETE", tok, ""); got.Status != 204 {
		t.Fatalf("delete: %d", got.Status)
	}
	if got := call("GET", tok, ""); got.Status != 401 {
		t.Errorf("read after delete: %d, want 401", got.Status)
	}
}

// TestSweepUnusedClients moves the clock and checks which dynamically
// registered clients the sweep removes.
func TestSweepUnusedClients(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	reg := func(name string) string {
		r := h.register(`{"client_name":"`+name+`","redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`, "application/json", "")
		return r.Body["client_id"].(string)
	}
	idle, used := reg("idle"), reg("used")
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {used}, "redirect_uri": {"http://127.0.0.1:5000/callback"},
		"state": {"sweep-state-1"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	loc, _, err := browser.New(h.base).Authorize(h.base+"/authorize?"+q.Encode(), testUser, testPassword, "allow")
	if err != nil {
		t.Fatal(err)
	}
	tok := h.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier},
		"redirect_uri": {"http://127.0.0.1:5000/callback"}, "client_id": {used}}, "", "")
	if tok.RefreshToken == "" {
		t.Fatalf("token: %+v", tok)
	}
	exists := func(id string) bool {
		_, err := h.store.GetClient(ctx, id)
		return err == nil
	}

	h.advance(2 * time.Hour)
	if ids, err := h.srv.SweepClients(ctx, 24*time.Hour, 30*24*time.Hour); err != nil || len(ids) != 0 {
		t.Fatalf("sweep after 2h removed %v (%v), want nothing", ids, err)
	}
	h.advance(23 * time.Hour)
	ids, err := h.srv.SweepClients(ctx, 24*time.Hour, 30*24*time.Hour)
	if err != nil || !slices.Equal(ids, []string{idle}) {
		t.Fatalf("sweep after 25h removed %v (%v), want [%s]", ids, err, idle)
	}
	if exists(idle) || !exists(used) || !exists(h.public.ID) {
		t.Errorf("after sweep: idle %v used %v static %v; want only idle gone", exists(idle), exists(used), exists(h.public.ID))
	}
	// Unused for four weeks, but its refresh token (30 days) is still live.
	h.advance(27 * 24 * time.Hour)
	if ids, _ := h.srv.SweepClients(ctx, 24*time.Hour, 7*24*time.Hour); len(ids) != 0 {
		t.Errorf("sweep removed %v while it held a live refresh token", ids)
	}
	h.advance(2 * 24 * time.Hour)
	if ids, _ := h.srv.SweepClients(ctx, 24*time.Hour, 7*24*time.Hour); !slices.Equal(ids, []string{used}) {
		t.Errorf("sweep after the grant expired removed %v, want [%s]", ids, used)
	}
	if !exists(h.public.ID) {
		t.Error("sweep removed a pre-registered client")
	}
}

// TestRegistrationModes covers --registration=token and off.
func TestRegistrationModes(t *testing.T) {
	body := `{"redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none"}`
	t.Run("off", func(t *testing.T) {
		h := newHarness(t, func(c *authz.Config) { c.Registration = authz.RegistrationOff })
		if r := h.register(body, "application/json", ""); r.Status != http.StatusForbidden {
			t.Errorf("status %d, want 403", r.Status)
		}
		if h.srv.Metadata().RegistrationEndpoint != "" {
			t.Error("metadata advertises registration while it is off")
		}
	})
	t.Run("token", func(t *testing.T) {
		h := newHarness(t, func(c *authz.Config) { c.Registration = authz.RegistrationToken })
		before := h.snapshot()
		for _, auth := range []string{"", "Bearer nope", "Basic eDp5"} {
			r := h.register(body, "application/json", auth)
			if r.Status != http.StatusUnauthorized || r.Body["error"] != "invalid_token" || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("auth %q: %d %v, want 401 invalid_token with a Bearer challenge", auth, r.Status, r.Body)
			}
		}
		h.unchanged(before)
		tok := "initial-access-token-for-tests"
		sum := sha256.Sum256([]byte(tok))
		if err := h.store.CreateInitialAccessToken(t.Context(), storage.InitialAccessToken{Hash: sum[:], CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if r := h.register(body, "application/json", "Bearer "+tok); r.Status != http.StatusCreated {
			t.Errorf("with a valid initial access token: %d %v", r.Status, r.Body)
		}
		h.advance(2 * time.Hour)
		if r := h.register(body, "application/json", "Bearer "+tok); r.Status != http.StatusUnauthorized {
			t.Errorf("with an expired initial access token: %d, want 401", r.Status)
		}
	})
}
