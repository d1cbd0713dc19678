package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/e2e/browser"
)

// docHost serves client ID metadata documents over TLS on 127.0.0.1, and
// writes its CA to a PEM file for --cimd-ca.
type docHost struct {
	ts   *httptest.Server
	docs map[string]string
	ca   string
}

func newDocHost(t *testing.T) *docHost {
	d := &docHost{docs: map[string]string{}}
	d.ts = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := d.docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(d.ts.Close)
	d.ca = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(d.ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *docHost) flags() []string {
	return []string{"--cimd-ca", d.ca, "--cimd-allow-host", strings.TrimPrefix(d.ts.URL, "https://")}
}

// challengeParams parses a Bearer challenge the way VS Code's
// _parseWWWAuthenticateHeader does: scheme "Bearer", then key="value".
func challengeParams(t *testing.T, h string) map[string]string {
	t.Helper()
	if !strings.HasPrefix(h, "Bearer ") {
		t.Fatalf("challenge %q does not start with the scheme Bearer", h)
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(\w+)="([^"]*)"`).FindAllStringSubmatch(h, -1) {
		out[m[1]] = m[2]
	}
	return out
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", u, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// vscodeState is VS Code's state: 16 random bytes in standard base64,
// with + / = that must survive URL encoding.
func vscodeState(t *testing.T) string {
	for {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		s := base64.StdEncoding.EncodeToString(b)
		if strings.ContainsAny(s, "+/") {
			return s
		}
	}
}

// discovery is what VS Code learns before it authorizes.
type discovery struct {
	resource, scope string
	as              struct {
		Issuer                string   `json:"issuer"`
		Authorize             string   `json:"authorization_endpoint"`
		Token                 string   `json:"token_endpoint"`
		Register              string   `json:"registration_endpoint"`
		CIMD                  bool     `json:"client_id_metadata_document_supported"`
		GrantTypesSupported   []string `json:"grant_types_supported"`
		CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
		IssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	}
}

// discover does what VS Code's _populateAuthMetadata does on a 401.
func discover(t *testing.T, mcpURL string) discovery {
	t.Helper()
	r := mcpPost(t, mcpURL, "", "", initialize, nil)
	if r.Status != 401 {
		t.Fatalf("first POST: %d, want 401", r.Status)
	}
	ch := challengeParams(t, r.Challenge)
	var prm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
	}
	getJSON(t, ch["resource_metadata"], &prm)
	if prm.Resource != mcpURL { // VS Code: "does not match target server url"
		t.Fatalf("PRM resource %q, VS Code requires exactly %q", prm.Resource, mcpURL)
	}
	var d discovery
	d.resource, d.scope = prm.Resource, ch["scope"]
	if d.scope == "" {
		d.scope = strings.Join(prm.ScopesSupported, " ")
	}
	getJSON(t, prm.AuthorizationServers[0]+"/.well-known/oauth-authorization-server", &d.as)
	if d.as.Issuer != prm.AuthorizationServers[0] || !slices.Contains(d.as.CodeChallengeMethods, "S256") || !d.as.IssParameterSupported {
		t.Fatalf("AS metadata %+v", d.as)
	}
	return d
}

// vscodeAuthorize runs VS Code's loopback flow: redirect
// http://127.0.0.1:<port>/ with a trailing slash, base64 state, resource
// verbatim from the PRM; then the token request, form-encoded with
// client_id and resource. It returns the token response.
func vscodeAuthorize(t *testing.T, b *browser.Browser, d discovery, clientID, scope string, wantConsent bool) tokenResponse {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	state := vscodeState(t)
	redirect := "http://127.0.0.1:52817/"
	q := url.Values{"client_id": {clientID}, "response_type": {"code"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"}, "scope": {scope}, "resource": {d.resource}, "redirect_uri": {redirect}, "state": {state}}
	loc, shown, err := b.Authorize(d.as.Authorize+"?"+q.Encode(), "admin", adminPassword, "allow")
	if err != nil {
		t.Fatal(err)
	}
	if shown != wantConsent {
		t.Errorf("consent page shown %v, want %v", shown, wantConsent)
	}
	got := loc.Query()
	if loc.Scheme+"://"+loc.Host+loc.Path != redirect || got.Get("state") != state || got.Get("iss") != d.as.Issuer || got.Get("code") == "" {
		t.Fatalf("authorization response %s: want %s with state %q and iss", loc, redirect, state)
	}
	status, tok, _ := postForm(t, d.as.Token, url.Values{"client_id": {clientID}, "grant_type": {"authorization_code"},
		"code": {got.Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}, "resource": {d.resource}}, "", "")
	if status != 200 || tok.RefreshToken == "" {
		t.Fatalf("token: %d %+v", status, tok)
	}
	return tok
}

// vscodeSession exercises what VS Code does once it has a token:
// refresh when within 5 minutes of expiry (here the access token lives
// 4 minutes, so at once), MCP calls, and step-up on 403.
func vscodeSession(t *testing.T, b *browser.Browser, d discovery, clientID string, tok tokenResponse) {
	t.Helper()
	if tok.ExpiresIn > 5*60 {
		t.Fatalf("expires_in %d; the test server runs with a 4 minute access token", tok.ExpiresIn)
	}
	status, ref, _ := postForm(t, d.as.Token, url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID},
		"refresh_token": {tok.RefreshToken}, "resource": {d.resource}}, "", "")
	if status != 200 || ref.AccessToken == tok.AccessToken || ref.RefreshToken == "" {
		t.Fatalf("refresh: %d %+v", status, ref)
	}
	mcpURL := d.resource
	sid := session(t, mcpURL, ref.AccessToken)
	if r := mcpPost(t, mcpURL, ref.AccessToken, sid, callFcst, nil); r.Status != 200 || !strings.Contains(r.Body, "Forecast") {
		t.Fatalf("get_forecast: %d %.300s", r.Status, r.Body)
	}
	// get_alerts needs weather:alerts: 403 insufficient_scope; VS Code
	// re-authorizes with the challenged scopes (a replacement).
	r := mcpPost(t, mcpURL, ref.AccessToken, sid, callAlerts, nil)
	if r.Status != 403 {
		t.Fatalf("get_alerts with weather:read: %d, want 403", r.Status)
	}
	ch := challengeParams(t, r.Challenge)
	if ch["error"] != "insufficient_scope" || ch["scope"] != "weather:read weather:alerts" {
		t.Fatalf("step-up challenge %q", r.Challenge)
	}
	up := vscodeAuthorize(t, b, d, clientID, ch["scope"], true)
	sid = session(t, mcpURL, up.AccessToken)
	if r := mcpPost(t, mcpURL, up.AccessToken, sid, callAlerts, nil); r.Status != 200 || !strings.Contains(r.Body, `"result"`) {
		t.Fatalf("get_alerts after step-up: %d %.300s", r.Status, r.Body)
	}
}

// TestVSCodeFlow emulates VS Code's MCP client on both registration
// paths: its client ID metadata document (served locally) and Dynamic
// Client Registration with its exact body.
func TestVSCodeFlow(t *testing.T) {
	docs := newDocHost(t)
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, append([]string{"--weather", "offline", "--access-token-ttl", "4m"}, docs.flags()...)...)
	mcpURL := srv.base + "/mcp"

	t.Run("metadata document", func(t *testing.T) {
		d := discover(t, mcpURL)
		if !d.as.CIMD {
			t.Fatal("AS does not advertise client_id_metadata_document_supported; VS Code would use DCR")
		}
		docURL := docs.ts.URL + "/oauth/client-metadata.json"
		docs.docs["/oauth/client-metadata.json"] = `{"client_id":"` + docURL + `","client_name":"Visual Studio Code",
		 "redirect_uris":["http://127.0.0.1:33418/","https://vscode.dev/redirect"],
		 "grant_types":["authorization_code","refresh_token","urn:ietf:params:oauth:grant-type:device_code"],
		 "response_types":["code"],"token_endpoint_auth_method":"none","application_type":"native",
		 "client_uri":"https://code.visualstudio.com"}`
		b := browser.New(srv.base)
		tok := vscodeAuthorize(t, b, d, docURL, d.scope, true)
		vscodeSession(t, b, d, docURL, tok)
	})
	t.Run("dynamic registration", func(t *testing.T) {
		d := discover(t, mcpURL)
		grants := []string{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"}
		if d.as.GrantTypesSupported != nil { // VS Code filters to what the AS supports
			grants = slices.DeleteFunc(grants, func(g string) bool { return !slices.Contains(d.as.GrantTypesSupported, g) })
		}
		body, _ := json.Marshal(map[string]any{
			"client_name": "Visual Studio Code", "client_uri": "https://code.visualstudio.com", "grant_types": grants,
			"response_types": []string{"code"},
			"redirect_uris":  []string{"https://insiders.vscode.dev/redirect", "https://vscode.dev/redirect", "http://127.0.0.1/", "http://127.0.0.1:33418/"},
			"scope":          d.scope, "token_endpoint_auth_method": "none", "application_type": "native",
		})
		reg, err := httpPostJSON(d.as.Register, string(body))
		if err != nil || reg["client_id"] == nil {
			t.Fatalf("registration: %v %v", reg, err)
		}
		id := reg["client_id"].(string)
		b := browser.New(srv.base)
		tok := vscodeAuthorize(t, b, d, id, d.scope, true)
		vscodeSession(t, b, d, id, tok)
	})
}

// TestClaudeCodeFlow emulates Claude Code: a metadata document listing
// port-less http://localhost/callback, and a redirect to
// http://localhost:<random port>/callback.
func TestClaudeCodeFlow(t *testing.T) {
	docs := newDocHost(t)
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, append([]string{"--weather", "offline"}, docs.flags()...)...)
	mcpURL := srv.base + "/mcp"
	d := discover(t, mcpURL)
	docURL := docs.ts.URL + "/oauth/claude-code-client-metadata"
	docs.docs["/oauth/claude-code-client-metadata"] = `{"client_id":"` + docURL + `","client_name":"Claude Code",
	 "redirect_uris":["http://localhost/callback","http://127.0.0.1/callback"],
	 "grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}`

	verifier := oauth2.GenerateVerifier()
	redirect := "http://localhost:49733/callback"
	q := url.Values{"response_type": {"code"}, "client_id": {docURL}, "redirect_uri": {redirect}, "state": {"claude-code-state-0123456789"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
		"scope": {d.scope}, "resource": {d.resource}}
	loc, _, err := browser.New(srv.base).Authorize(d.as.Authorize+"?"+q.Encode(), "admin", adminPassword, "allow")
	if err != nil {
		t.Fatal(err)
	}
	if loc.Scheme+"://"+loc.Host+loc.Path != redirect || loc.Query().Get("code") == "" {
		t.Fatalf("redirected to %s, want a code at %s", loc, redirect)
	}
	status, tok, _ := postForm(t, d.as.Token, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"code_verifier": {verifier}, "redirect_uri": {redirect}, "client_id": {docURL}, "resource": {d.resource}}, "", "")
	if status != 200 {
		t.Fatalf("token: %d %+v", status, tok)
	}
	sid := session(t, mcpURL, tok.AccessToken)
	if r := mcpPost(t, mcpURL, tok.AccessToken, sid, callFcst, nil); r.Status != 200 {
		t.Fatalf("get_forecast: %d", r.Status)
	}
	// A 401 on a signed-in server: Claude Code refreshes and retries once.
	status, ref, _ := postForm(t, d.as.Token, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {docURL}}, "", "")
	if status != 200 {
		t.Fatalf("refresh: %d", status)
	}
	if r := mcpPost(t, mcpURL, ref.AccessToken, sid, callFcst, nil); r.Status != 200 {
		t.Errorf("call after refresh: %d", r.Status)
	}
}
