package main

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/e2e/browser"
)

var update = flag.Bool("update", false, "rewrite golden files")

// tokenFor runs the code flow in a fresh browser as user and returns a
// token for scope and resource.
func tokenFor(t *testing.T, base, clientID, user, password, scope, resource string) tokenResponse {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {"http://127.0.0.1:41000/callback"},
		"state": {"resource-test-state"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"}, "scope": {scope}, "resource": {resource},
	}
	loc, _, err := browser.New(base).Authorize(base+"/authorize?"+q.Encode(), user, password, "allow")
	if err != nil {
		t.Fatal(err)
	}
	status, tok, _ := postForm(t, base+"/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier},
		"redirect_uri": {"http://127.0.0.1:41000/callback"}, "client_id": {clientID}, "resource": {resource},
	}, "", "")
	if status != 200 {
		t.Fatalf("token: %d %+v", status, tok)
	}
	return tok
}

type mcpReply struct {
	Status    int
	Challenge string
	Session   string
	Body      string
}

// mcpPost sends one JSON-RPC message to an MCP endpoint.
func mcpPost(t *testing.T, endpoint, token, session, body string, header http.Header) mcpReply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h
	}
	return mcpDo(t, req)
}

func mcpDo(t *testing.T, req *http.Request) mcpReply {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return mcpReply{res.StatusCode, res.Header.Get("WWW-Authenticate"), res.Header.Get("Mcp-Session-Id"), string(b)}
}

const (
	initialize  = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`
	initialized = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	callAlerts  = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_alerts","arguments":{"state":"WA"}}}`
	callFcst    = `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_forecast","arguments":{"latitude":47.6,"longitude":-122.3}}}`
)

// session opens an MCP session with token and returns its ID.
func session(t *testing.T, endpoint, token string) string {
	t.Helper()
	r := mcpPost(t, endpoint, token, "", initialize, nil)
	if r.Status != 200 || r.Session == "" {
		t.Fatalf("initialize: %d %q %s", r.Status, r.Challenge, r.Body)
	}
	if r := mcpPost(t, endpoint, token, r.Session, initialized, nil); r.Status != 202 {
		t.Fatalf("initialized: %d %s", r.Status, r.Body)
	}
	return r.Session
}

// TestResourceChallenges checks every answer of the protected MCP
// endpoint, header by header.
func TestResourceChallenges(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	base, mcpURL := srv.base, srv.base+"/mcp"
	c := addClient(t, db, "--name", "resource test", "--redirect-uri", "http://127.0.0.1/callback")
	prm := `resource_metadata="` + base + `/.well-known/oauth-protected-resource/mcp"`
	read := tokenFor(t, base, c.ClientID, "admin", adminPassword, "weather:read", mcpURL)
	stream := tokenFor(t, base, c.ClientID, "admin", adminPassword, "weather:read weather:alerts", base+"/mcp/stream")

	tests := []struct {
		name          string
		token, body   string
		header        http.Header
		wantStatus    int
		wantChallenge string // exact, "" = none
	}{
		{"no token", "", initialize, nil, 401, `Bearer ` + prm + `, scope="weather:read"`},
		{"other scheme", "", initialize, http.Header{"Authorization": {"Basic YTpi"}}, 401, `Bearer ` + prm + `, scope="weather:read"`},
		{"garbage token", "not-a-token", initialize, nil, 401,
			`Bearer error="invalid_token", error_description="the access token is invalid, expired or revoked", ` + prm + `, scope="weather:read"`},
		{"token for another resource", stream.AccessToken, initialize, nil, 401,
			`Bearer error="invalid_token", error_description="the access token was not issued for ` + mcpURL + `", ` + prm + `, scope="weather:read"`},
		{"refresh token as bearer", read.RefreshToken, initialize, nil, 401,
			`Bearer error="invalid_token", error_description="the access token is invalid, expired or revoked", ` + prm + `, scope="weather:read"`},
		{"tool needing more scope", read.AccessToken, callAlerts, nil, 403,
			`Bearer error="insufficient_scope", error_description="this call needs the scope weather:alerts", ` + prm + `, scope="weather:read weather:alerts"`},
		// Credentials sent but unusable: 401, so the client signs in again.
		{"Bearer without a token", "", initialize, http.Header{"Authorization": {"Bearer"}}, 401,
			`Bearer error="invalid_request", error_description="the Authorization header says Bearer but holds no token", ` + prm + `, scope="weather:read"`},
		{"Bearer a b", "", initialize, http.Header{"Authorization": {"Bearer a b"}}, 401,
			`Bearer error="invalid_request", error_description="the Authorization header holds more than one token", ` + prm + `, scope="weather:read"`},
		{"very long token", "", initialize, http.Header{"Authorization": {"Bearer " + strings.Repeat("x", 20000)}}, 401,
			`Bearer error="invalid_request", error_description="the bearer token is longer than 8192 bytes", ` + prm + `, scope="weather:read"`},
		{"two Authorization headers", "", initialize, http.Header{"Authorization": {"Bearer " + read.AccessToken, "Bearer " + read.AccessToken}}, 401,
			`Bearer error="invalid_request", error_description="send exactly one Authorization header", ` + prm + `, scope="weather:read"`},
		{"valid", read.AccessToken, initialize, nil, 200, ""},
		{"valid token, bad JSON-RPC body", read.AccessToken, `{"jsonrpc":`, nil, 400, ""},
		{"foreign origin", read.AccessToken, initialize, http.Header{"Origin": {"https://evil.example"}}, 403, ""},
		{"rebound host", read.AccessToken, initialize, http.Header{"Host": {"evil.example:80"}}, 421, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mcpPost(t, mcpURL, tc.token, "", tc.body, tc.header)
			if r.Status != tc.wantStatus || r.Challenge != tc.wantChallenge {
				t.Errorf("got %d %q\nwant %d %q\nbody %.300s", r.Status, r.Challenge, tc.wantStatus, tc.wantChallenge, r.Body)
			}
		})
	}

	// Step-up: a token with both scopes may call get_alerts.
	both := tokenFor(t, base, c.ClientID, "admin", adminPassword, "weather:read weather:alerts", mcpURL)
	sid := session(t, mcpURL, both.AccessToken)
	if r := mcpPost(t, mcpURL, both.AccessToken, sid, callAlerts, nil); r.Status != 200 || !strings.Contains(r.Body, `"result"`) {
		t.Errorf("get_alerts after step-up: %d %.300s", r.Status, r.Body)
	}

	// GET and DELETE need the token too.
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		req, _ := http.NewRequest(m, mcpURL, nil)
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Accept", "text/event-stream")
		if r := mcpDo(t, req); r.Status != 401 || !strings.HasPrefix(r.Challenge, "Bearer ") {
			t.Errorf("%s without a token: %d %q, want 401 with a challenge", m, r.Status, r.Challenge)
		}
	}

	// A session belongs to its user: another user's valid token is refused.
	cli(t, "bob-password-1\n", "user", "add", "bob", "--db", db)
	bob := tokenFor(t, base, c.ClientID, "bob", "bob-password-1", "weather:read", mcpURL)
	if r := mcpPost(t, mcpURL, bob.AccessToken, sid, callFcst, nil); r.Status == 200 {
		t.Errorf("another user's token on alice's session: %d, want refused", r.Status)
	}

	// Revocation works at once, even for a token the server has cached.
	if r := mcpPost(t, mcpURL, both.AccessToken, sid, callFcst, nil); r.Status != 200 {
		t.Fatalf("before revocation: %d", r.Status)
	}
	if status, _, _ := postForm(t, base+"/revoke", url.Values{"token": {both.AccessToken}, "client_id": {c.ClientID}}, "", ""); status != 200 {
		t.Fatalf("revoke: %d", status)
	}
	if r := mcpPost(t, mcpURL, both.AccessToken, sid, callFcst, nil); r.Status != 401 || !strings.Contains(r.Challenge, `error="invalid_token"`) {
		t.Errorf("after revocation: %d %q, want 401 invalid_token", r.Status, r.Challenge)
	}
}

// TestMetadataDocuments checks the metadata documents against golden
// files, for each loopback spelling of the server's URL.
func TestMetadataDocuments(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.base, "http://"), ":")
	get := func(host, path string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+path, nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s%s: no CORS header", host, path)
		}
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port} {
		for _, p := range []string{"/mcp", "/mcp/stream"} {
			status, m := get(host, "/.well-known/oauth-protected-resource"+p)
			if want := "http://" + host + p; status != 200 || m["resource"] != want {
				t.Errorf("Host %s, metadata for %s: %d resource %v, want %s", host, p, status, m["resource"], want)
			}
			if as := m["authorization_servers"].([]any); len(as) != 1 || as[0] != srv.base {
				t.Errorf("authorization_servers %v, want [%s] (the issuer, byte for byte)", as, srv.base)
			}
		}
	}
	for _, doc := range []struct{ path, golden string }{
		{"/.well-known/oauth-protected-resource/mcp", "protected_resource.golden.json"},
		{"/.well-known/oauth-protected-resource", "protected_resource.golden.json"},
		{"/.well-known/oauth-authorization-server", "authorization_server.golden.json"},
		{"/.well-known/openid-configuration", "authorization_server.golden.json"},
	} {
		_, m := get("localhost:"+port, doc.path)
		got, _ := json.MarshalIndent(m, "", "  ")
		got = []byte(strings.ReplaceAll(string(got), srv.base, "http://localhost:PORT") + "\n")
		golden := filepath.Join("testdata", doc.golden)
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from %s:\n%s", doc.path, golden, got)
		}
	}
}

// TestStatelessProtocol calls a tool with the stateless 2026-07-28
// revision (no initialize, no session): it is served, and the bearer
// checks apply to it as to every request.
func TestStatelessProtocol(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	mcpURL := srv.base + "/mcp"
	c := addClient(t, db, "--redirect-uri", "http://127.0.0.1/callback")
	tok := tokenFor(t, srv.base, c.ClientID, "admin", adminPassword, "weather:read", mcpURL)
	const call = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_forecast","arguments":{"latitude":47.6,"longitude":-122.3},` +
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"0"},"io.modelcontextprotocol/clientCapabilities":{}}}}`
	hdr := http.Header{"Mcp-Protocol-Version": {"2026-07-28"}, "Mcp-Method": {"tools/call"}, "Mcp-Name": {"get_forecast"}}
	if r := mcpPost(t, mcpURL, tok.AccessToken, "", call, hdr); r.Status != 200 || !strings.Contains(r.Body, "Forecast for") || r.Session != "" {
		t.Errorf("2026-07-28 tools/call: %d session %q %.400s", r.Status, r.Session, r.Body)
	}
	if r := mcpPost(t, mcpURL, "", "", call, hdr); r.Status != 401 {
		t.Errorf("2026-07-28 without a token: %d, want 401", r.Status)
	}
	alerts := strings.Replace(strings.Replace(call, "get_forecast", "get_alerts", 1), `{"latitude":47.6,"longitude":-122.3}`, `{"state":"WA"}`, 1)
	ahdr := http.Header{"Mcp-Protocol-Version": {"2026-07-28"}, "Mcp-Method": {"tools/call"}, "Mcp-Name": {"get_alerts"}}
	if r := mcpPost(t, mcpURL, tok.AccessToken, "", alerts, ahdr); r.Status != 403 {
		t.Errorf("2026-07-28 get_alerts with weather:read: %d, want 403", r.Status)
	}
}

// TestRefreshReuseGraceDefault checks serve's default grace period: two
// windows of one editor refreshing with the same token both get a pair
// that works at /mcp, and the newest refresh tokens still refresh.
func TestRefreshReuseGraceDefault(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	mcpURL := srv.base + "/mcp"
	c := addClient(t, db, "--name", "two windows", "--redirect-uri", "http://127.0.0.1/callback")
	tok := tokenFor(t, srv.base, c.ClientID, "admin", adminPassword, "weather:read", mcpURL)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {c.ClientID}}
	var pairs []tokenResponse
	for window := range 2 {
		status, p, _ := postForm(t, srv.base+"/token", form, "", "")
		if status != 200 || p.AccessToken == "" || p.RefreshToken == "" {
			t.Fatalf("window %d refresh: %d %+v, want 200 with a pair", window, status, p)
		}
		pairs = append(pairs, p)
	}
	for i, p := range pairs {
		if r := mcpPost(t, mcpURL, p.AccessToken, "", initialize, nil); r.Status != 200 {
			t.Errorf("window %d access token at /mcp: %d %q", i, r.Status, r.Challenge)
		}
		status, _, _ := postForm(t, srv.base+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {p.RefreshToken}, "client_id": {c.ClientID}}, "", "")
		if status != 200 {
			t.Errorf("window %d's refresh token: %d, want 200", i, status)
		}
	}
}
