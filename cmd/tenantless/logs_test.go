package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/e2e/browser"
)

// TestLogsHoldNoSecrets runs a full flow with debug logging and searches
// the server's log for every secret the test saw: password, client
// secret, registration access token, code, verifier, access and refresh
// tokens.
func TestLogsHoldNoSecrets(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline", "--log-format", "json")
	base := srv.base
	secrets := map[string]string{"admin password": adminPassword}

	// Dynamic registration of a confidential client.
	req, _ := http.NewRequest(http.MethodPost, base+"/register", strings.NewReader(
		`{"client_name":"logs","redirect_uris":["http://127.0.0.1/callback"],"grant_types":["authorization_code","refresh_token"]}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var reg map[string]any
	_ = json.NewDecoder(res.Body).Decode(&reg)
	res.Body.Close()
	id, secret := reg["client_id"].(string), reg["client_secret"].(string)
	secrets["client secret"] = secret
	secrets["registration access token"] = reg["registration_access_token"].(string)

	cfg := &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: "http://127.0.0.1:40404/callback",
		Scopes: []string{"weather:read", "weather:alerts"}, Endpoint: oauth2.Endpoint{AuthURL: base + "/authorize", TokenURL: base + "/token", AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	secrets["code verifier"] = verifier
	loc, _, err := browser.New(base).Authorize(cfg.AuthCodeURL("logs-state-1234", oauth2.S256ChallengeOption(verifier)), "admin", adminPassword, "allow")
	if err != nil {
		t.Fatal(err)
	}
	code := loc.Query().Get("code")
	secrets["authorization code"] = code
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	secrets["access token"], secrets["refresh token"] = tok.AccessToken, tok.RefreshToken
	// A failed exchange (replay) and a failed refresh log errors too.
	_, _ = cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	status, r2, _ := postForm(t, base+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken + "x"}}, id, secret)
	if status != 400 {
		t.Errorf("bad refresh: %d %+v", status, r2)
	}
	// A wrong password at sign-in.
	bad := browser.New(base)
	p, err := bad.Get(cfg.AuthCodeURL("logs-state-5678", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	wrong := "wrong-password-that-must-not-be-logged"
	secrets["wrong password"] = wrong
	if _, err := bad.Submit(p.URL, p.Forms[0], url.Values{"username": {"admin"}, "password": {wrong}}); err != nil {
		t.Fatal(err)
	}
	// An MCP call with the token, and introspection and revocation.
	mcpPost(t, base+"/mcp", tok.AccessToken, "", initialize, nil)
	mcpPost(t, base+"/mcp", tok.AccessToken+"x", "", initialize, nil)
	introspect(t, base, tok.AccessToken, id, secret)
	postForm(t, base+"/revoke", url.Values{"token": {tok.RefreshToken}}, id, secret)

	logs := srv.stderr.String()
	if !strings.Contains(logs, "token issued") {
		t.Fatalf("the log lacks the flow (debug logging off?):\n%.2000s", logs)
	}
	for what, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the server log contains the %s", what)
		}
		// Also no long fragment of a token (e.g. a JWT's signature part).
		if len(s) > 40 {
			for _, part := range strings.Split(s, ".") {
				if len(part) >= 20 && strings.Contains(logs, part) {
					t.Errorf("the server log contains part of the %s", what)
				}
			}
		}
	}
}
