package main

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/authz/trace"
	"github.com/tenantless/tenantless/e2e/browser"
)

// traceLines runs "tenantless trace --json" against the server on db and
// returns its events.
func traceLines(t *testing.T, db string, args ...string) []trace.Event {
	t.Helper()
	out := cli(t, "", append([]string{"trace", "--json", "--db", db}, args...)...)
	var evs []trace.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e trace.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("trace --json printed %q: %v", sc.Text(), err)
		}
		// The stable fields are always there, even when empty.
		var raw map[string]any
		_ = json.Unmarshal(sc.Bytes(), &raw)
		for _, k := range []string{"time", "attempt", "route", "client_id", "user", "status", "outcome", "reason", "hint"} {
			if _, ok := raw[k]; !ok {
				t.Fatalf("trace --json line %s has no %q", sc.Text(), k)
			}
		}
		evs = append(evs, e)
	}
	return evs
}

// waitTrace polls the trace until one event satisfies ok.
func waitTrace(t *testing.T, db string, what string, ok func(trace.Event) bool) trace.Event {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		evs := traceLines(t, db)
		if i := slices.IndexFunc(evs, ok); i >= 0 {
			return evs[i]
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, e := range evs {
				fmt.Fprintf(&b, "  #%d %s %s %d %s %s: %s\n", e.Attempt, e.Route, e.Step, e.Status, e.Outcome, e.ClientID, e.Reason)
			}
			t.Fatalf("no trace event %s within 20 s; the trace holds:\n%s", what, b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func forecast(ctx context.Context, cs *mcp.ClientSession) error {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_forecast", Arguments: map[string]any{"latitude": 47.6062, "longitude": -122.3321}})
	if err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("tool error: %v", res.Content)
	}
	return nil
}

// TestTraceGoSDKClient follows the go-sdk client through the trace: its
// first 401 (normal), discovery, registration, sign-in, token and tool
// call in one attempt; then "expire tokens now" from the CLI and the
// client's recovery with a ✓ verdict; then an injected step-up, followed.
func TestTraceGoSDKClient(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	pre := addClient(t, db, "--name", "trace pre-registered", "--redirect-uri", "http://127.0.0.1/callback")
	ctx := t.Context()

	if fi, err := os.Stat(adminFile(db)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v, mode %v, want 0600", err, fi.Mode())
	}

	h, _ := goSDKHandler(t, srv.base, false, pre.ClientID)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "trace-e2e", Version: "0"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.base + "/mcp", OAuthHandler: h}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if err := forecast(ctx, cs); err != nil {
		t.Fatal(err)
	}
	call := waitTrace(t, db, "tools/call ok", func(e trace.Event) bool {
		return e.ClientID == pre.ClientID && strings.Contains(e.Step, "tools/call get_forecast") && e.Outcome == trace.OK
	})
	evs := traceLines(t, db, "--client", pre.ClientID)
	var att []trace.Event
	for _, e := range traceLines(t, db) {
		if e.Attempt == call.Attempt {
			att = append(att, e)
		}
	}
	if len(att) == 0 || !strings.HasSuffix(att[0].Route, "/mcp") || att[0].Status != 401 || att[0].Outcome != trace.OK ||
		!strings.Contains(att[0].Reason, "normal first step") || !strings.Contains(att[0].Hint, "/.well-known/oauth-protected-resource/mcp") {
		t.Errorf("attempt %d starts with %+v, want the normal first 401 with a hint to fetch the metadata", call.Attempt, att)
	}
	for _, want := range []string{"GET /.well-known/oauth-protected-resource/mcp", "GET /.well-known/oauth-authorization-server", "GET /authorize", "POST /login", "POST /token"} {
		if !slices.ContainsFunc(att, func(e trace.Event) bool { return e.Route == want }) {
			t.Errorf("attempt %d has no %s step: %+v", call.Attempt, want, att)
		}
	}
	if !slices.ContainsFunc(evs, func(e trace.Event) bool {
		return e.Route == "POST /token" && e.User == "admin" && e.Token != "" && e.Step == "authorization_code grant"
	}) {
		t.Errorf("no token event with user admin and a token fingerprint for %s: %+v", pre.ClientID, evs)
	}

	// Expire now: the client's next call gets 401 and it recovers.
	out := cli(t, "", "fault", "expire", "--client", pre.ClientID, "--db", db)
	if !strings.Contains(out, "access tokens expired now") {
		t.Errorf("fault expire printed %q", out)
	}
	if err := forecast(ctx, cs); err != nil {
		t.Fatalf("call after expire: %v", err)
	}
	refused := waitTrace(t, db, "401 for the expired token", func(e trace.Event) bool {
		return e.ClientID == pre.ClientID && e.Status == 401 && e.Outcome == trace.Fail
	})
	if !strings.Contains(refused.Reason, "expired now (injected fault)") {
		t.Errorf("reason of the 401 after expire: %q", refused.Reason)
	}
	v := waitTrace(t, db, "verdict after expire", func(e trace.Event) bool { return e.Route == "verdict expire" })
	if v.Outcome != trace.Passed || !strings.Contains(v.Reason, "✓") {
		t.Errorf("verdict after expire: %+v, want passed ✓", v)
	}
	t.Logf("go-sdk after expire: %s", v.Reason)

	// Step-up injected on get_forecast: 403, the client authorizes again
	// and retries.
	cli(t, "", "fault", "step-up", "--client", pre.ClientID, "--tool", "get_forecast", "--scope", "weather:alerts", "--db", db)
	if err := forecast(ctx, cs); err != nil {
		t.Fatalf("call after step-up: %v", err)
	}
	up := waitTrace(t, db, "injected step-up 403", func(e trace.Event) bool {
		return e.ClientID == pre.ClientID && e.Status == 403
	})
	if !strings.Contains(up.Reason, "step-up demanded") || !strings.Contains(up.Hint, "weather:alerts") {
		t.Errorf("step-up event: %+v", up)
	}
	waitTrace(t, db, "authorize asking for the missing scope", func(e trace.Event) bool {
		return e.ClientID == pre.ClientID && e.Route == "GET /authorize" && strings.Contains(e.Reason, "step-up: the client asks again with the missing scope weather:alerts")
	})
	v = waitTrace(t, db, "verdict after step-up", func(e trace.Event) bool { return e.Route == "verdict step-up" })
	if v.Outcome != trace.Passed || v.Reason != "stepped up and retried ✓" {
		t.Errorf("verdict after step-up: %+v", v)
	}
	// The injections are in the audit log.
	if out := cli(t, "", "audit", "--db", db); strings.Count(out, "fault.injected") < 2 {
		t.Errorf("audit log has %d fault.injected entries, want 2:\n%s", strings.Count(out, "fault.injected"), out)
	}
}

// TestTraceWrongAudience: a token issued for /mcp/stream used at /mcp is
// refused, and the trace says which audience it had.
func TestTraceWrongAudience(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	c := addClient(t, db, "--name", "aud", "--redirect-uri", "http://127.0.0.1/callback")
	tok := signIn(t, srv.base, c.ClientID, "http://127.0.0.1:5555/callback", srv.base+"/mcp/stream")
	req, _ := http.NewRequest(http.MethodPost, srv.base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	e := waitTrace(t, db, "wrong audience", func(e trace.Event) bool { return e.ClientID == c.ClientID && e.Status == 401 })
	want := "token for another audience: its aud is " + srv.base + "/mcp/stream, not " + srv.base + "/mcp"
	if e.Reason != want || !strings.Contains(e.Hint, "resource="+srv.base+"/mcp") {
		t.Errorf("reason %q, hint %q; want reason %q", e.Reason, e.Hint, want)
	}
}

// signIn runs the authorization code flow with PKCE for a public client
// as admin and returns the token response.
func signIn(t *testing.T, base, clientID, redirect, resource string) tokenResponse {
	t.Helper()
	verifier := "trace-test-verifier-0123456789-0123456789-abcdef"
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"state-12345"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}, "resource": {resource}}
	loc, _, err := browser.New(base).Authorize(base+"/authorize?"+q.Encode(), "admin", adminPassword, "allow")
	if err != nil {
		t.Fatal(err)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", loc)
	}
	status, tok, _ := postForm(t, base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID},
		"redirect_uri": {redirect}, "code_verifier": {verifier}, "resource": {resource}}, "", "")
	if status != 200 {
		t.Fatalf("token: %d %+v", status, tok)
	}
	return tok
}

// TestTraceAdminEndpoint: the admin endpoint wants the token, the page
// wants an admin.
func TestTraceAdminEndpoint(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	info, err := readAdminFile(adminFile(db))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"no token", "", 401},
		{"wrong token", "Bearer nope", 401},
		{"the token", "Bearer " + info.Token, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, info.URL+"/admin/trace", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("got %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	cli(t, "pw-of-bob-123456\n", "user", "add", "bob", "--db", db)
	for _, tc := range []struct {
		user string
		want int
	}{{"bob", 403}, {"admin", 200}} {
		b := browser.New(srv.base)
		pw := adminPassword
		if tc.user == "bob" {
			pw = "pw-of-bob-123456"
		}
		if _, _, err := b.Authorize(srv.base+"/trace", tc.user, pw, "allow"); err != nil && !strings.Contains(err.Error(), "no form") {
			t.Logf("sign-in for /trace as %s: %v", tc.user, err)
		}
		p, err := b.Get(srv.base + "/trace")
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != tc.want {
			t.Errorf("/trace as %s: %d, want %d", tc.user, p.Status, tc.want)
		}
	}
	code := run(t.Context(), []string{"fault", "expire", "--client", "nobody", "--db", db}, testEnv(nil))
	if code != 1 {
		t.Errorf("fault for an unknown client: exit %d, want 1", code)
	}
}

// TestTraceReasons drives the failures a client can hit, one by one
// against one long-lived server, and checks that the trace names each
// cause in plain words.
func TestTraceReasons(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	// Strict reuse detection: the "refresh reuse" row reuses a rotated
	// token at once, which the default grace period would allow.
	srv := startServer(t, db, "--weather", "offline", "--refresh-reuse-grace", "0")
	base, mcpURL := srv.base, srv.base+"/mcp"
	pub := addClient(t, db, "--name", "reasons", "--redirect-uri", "http://127.0.0.1/callback", "--redirect-uri", "com.example.app:/cb")
	conf := addClient(t, db, "--name", "confidential", "--confidential", "--redirect-uri", "http://127.0.0.1/callback")
	get := func(u string, hdr ...string) int {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	authz := func(client, redirect string, extra url.Values) url.Values {
		q := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirect}, "state": {"state-12345"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier("v-0123456789-0123456789-0123456789-0123456789")}, "code_challenge_method": {"S256"}}
		for k, v := range extra {
			q[k] = v
		}
		return q
	}
	// codeFor signs in and returns a code for pub with the given verifier.
	codeFor := func(verifier string) string {
		q := authz(pub.ClientID, "http://127.0.0.1:5555/callback", url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}})
		loc, _, err := browser.New(base).Authorize(base+"/authorize?"+q.Encode(), "admin", adminPassword, "allow")
		if err != nil {
			t.Fatal(err)
		}
		return loc.Query().Get("code")
	}
	const verifier = "reasons-verifier-0123456789-0123456789-0123456789"
	tests := []struct {
		name   string
		do     func()
		match  func(trace.Event) bool
		reason string // substring of the reason
		hint   string // substring of the hint
	}{
		{"first 401", func() { get(mcpURL) },
			func(e trace.Event) bool { return e.Route == "GET /mcp" && e.Status == 401 },
			"normal first step", "/.well-known/oauth-protected-resource/mcp"},
		{"metadata under another spelling", func() {
			get(strings.Replace(base, "localhost", "127.0.0.1", 1) + "/.well-known/oauth-authorization-server")
		},
			func(e trace.Event) bool {
				return e.Route == "GET /.well-known/oauth-authorization-server" && strings.HasPrefix(e.Host, "127.0.0.1")
			},
			"but the issuer is " + base, "IssuerMismatchError"},
		{"path-inserted AS metadata", func() { get(base + "/.well-known/oauth-authorization-server/mcp") },
			func(e trace.Event) bool { return e.Route == "GET /.well-known/oauth-authorization-server/mcp" },
			"no authorization server metadata", "has no path"},
		{"registration refused", func() {
			_, _ = httpPostJSON(base+"/register", `{"redirect_uris":["http://evil.example/cb"],"client_name":"bad"}`)
		}, func(e trace.Event) bool { return e.Route == "POST /register" && e.Status == 400 },
			"registration refused (invalid_redirect_uri)", "127.0.0.1"},
		{"unknown client", func() { get(base + "/authorize?" + authz("no-such-client", "http://127.0.0.1/cb", nil).Encode()) },
			func(e trace.Event) bool { return e.ClientID == "no-such-client" },
			"unknown client", "Register the client"},
		{"unregistered redirect URI", func() { get(base + "/authorize?" + authz(pub.ClientID, "http://evil.example/cb", nil).Encode()) },
			func(e trace.Event) bool {
				return e.ClientID == pub.ClientID && e.Route == "GET /authorize" && e.Status == 400
			},
			`redirect URI "http://evil.example/cb" is not registered for this client; registered: http://127.0.0.1/callback, com.example.app:/cb`, "registered redirect URIs"},
		{"PKCE missing", func() {
			q := authz(pub.ClientID, "http://127.0.0.1:5555/callback", nil)
			q.Del("code_challenge")
			get(base + "/authorize?" + q.Encode())
		}, func(e trace.Event) bool {
			return e.ClientID == pub.ClientID && e.Route == "GET /authorize" && strings.Contains(e.Reason, "PKCE")
		}, "PKCE missing or wrong", "code_challenge_method=S256"},
		{"unknown resource", func() {
			get(base + "/authorize?" + authz(pub.ClientID, "http://127.0.0.1:5555/callback", url.Values{"resource": {"http://localhost:1/other"}}).Encode())
		}, func(e trace.Event) bool {
			return e.ClientID == pub.ClientID && strings.Contains(e.Reason, "unknown resource")
		},
			`unknown resource "http://localhost:1/other"`, "resource=" + base + "/mcp"},
		{"consent denied", func() {
			q := authz(pub.ClientID, "http://127.0.0.1:5555/callback", url.Values{"prompt": {"consent"}})
			_, _, _ = browser.New(base).Authorize(base+"/authorize?"+q.Encode(), "admin", adminPassword, "deny")
		}, func(e trace.Event) bool { return e.Route == "POST /authorize" && e.Outcome == trace.Fail },
			"the user denied consent", "show that access was refused"},
		{"verifier mismatch", func() {
			code := codeFor(verifier)
			postForm(t, base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {pub.ClientID},
				"redirect_uri": {"http://127.0.0.1:5555/callback"}, "code_verifier": {verifier + "x"}}, "", "")
		}, func(e trace.Event) bool { return e.Route == "POST /token" && strings.Contains(e.Reason, "PKCE") },
			"PKCE verifier mismatch", "code_verifier"},
		{"redirect mismatch", func() {
			code := codeFor(verifier)
			postForm(t, base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {pub.ClientID},
				"redirect_uri": {"http://127.0.0.1:5556/other"}, "code_verifier": {verifier}}, "", "")
		}, func(e trace.Event) bool { return e.Route == "POST /token" && strings.Contains(e.Reason, "redirect") },
			"redirect URI mismatch", "exactly the redirect_uri"},
		{"code reused", func() {
			code := codeFor(verifier)
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {pub.ClientID},
				"redirect_uri": {"http://127.0.0.1:5555/callback"}, "code_verifier": {verifier}}
			postForm(t, base+"/token", form, "", "")
			postForm(t, base+"/token", form, "", "")
		}, func(e trace.Event) bool { return e.Route == "POST /token" && strings.Contains(e.Reason, "reused") },
			"authorization code reused", "exactly once"},
		{"client authentication failure", func() {
			postForm(t, base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {"http://127.0.0.1/callback"}},
				conf.ClientID, "wrong-secret")
		}, func(e trace.Event) bool { return e.ClientID == conf.ClientID && e.Route == "POST /token" },
			"client authentication failed", "client_secret"},
		{"refresh reuse", func() {
			code := codeFor(verifier)
			_, tok, _ := postForm(t, base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {pub.ClientID},
				"redirect_uri": {"http://127.0.0.1:5555/callback"}, "code_verifier": {verifier}}, "", "")
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {pub.ClientID}}
			postForm(t, base+"/token", form, "", "")
			postForm(t, base+"/token", form, "", "")
		}, func(e trace.Event) bool {
			return e.Route == "POST /token" && e.Step == "refresh_token grant" && e.Outcome == trace.Fail
		},
			"refresh token reuse", "Store the new refresh_token"},
		{"token refused at introspection", func() {
			introspect(t, base, "not-a-token-of-this-server", conf.ClientID, conf.ClientSecret)
		}, func(e trace.Event) bool { return e.Route == "POST /introspect" },
			"introspection: the token is not active", "401 invalid_token"},
		{"insufficient scope", func() {
			tok := signInScope(t, base, pub.ClientID, "weather:read")
			mcpCall(t, mcpURL, tok, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_alerts","arguments":{"state":"WA"}}}`)
		}, func(e trace.Event) bool { return e.Status == 403 && isPath(e.Route, "/mcp") },
			"insufficient scope: this call needs weather:alerts; the token has weather:read", `scope="weather:read weather:alerts"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(traceLines(t, db))
			tc.do()
			e := waitTrace(t, db, tc.name, func(e trace.Event) bool { return e.Seq > uint64(before) && tc.match(e) })
			if !strings.Contains(e.Reason, tc.reason) || !strings.Contains(e.Hint, tc.hint) {
				t.Errorf("reason %q\nhint %q\nwant reason with %q, hint with %q", e.Reason, e.Hint, tc.reason, tc.hint)
			}
		})
	}
}

func isPath(route, path string) bool { return strings.HasSuffix(route, " "+path) }

// signInScope signs in for pub with a scope and returns the access token.
func signInScope(t *testing.T, base, clientID, scope string) string {
	t.Helper()
	verifier := "scope-verifier-0123456789-0123456789-0123456789"
	redirect := "http://127.0.0.1:5555/callback"
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"state-12345"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}, "scope": {scope}, "resource": {base + "/mcp"}}
	loc, _, err := browser.New(base).Authorize(base+"/authorize?"+q.Encode(), "admin", adminPassword, "allow")
	if err != nil {
		t.Fatal(err)
	}
	status, tok, _ := postForm(t, base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {clientID}, "redirect_uri": {redirect}, "code_verifier": {verifier}, "resource": {base + "/mcp"}}, "", "")
	if status != 200 {
		t.Fatalf("token: %d %+v", status, tok)
	}
	return tok.AccessToken
}

// mcpCall posts one JSON-RPC message to the MCP endpoint with a token.
func mcpCall(t *testing.T, u, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	if i := strings.Index(body, `"method":"`); i >= 0 {
		m, _, _ := strings.Cut(body[i+10:], `"`)
		req.Header.Set("Mcp-Method", m)
	}
	if i := strings.Index(body, `"name":"`); i >= 0 {
		name, _, _ := strings.Cut(body[i+8:], `"`)
		req.Header.Set("Mcp-Name", name)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestTraceFaultsRawClient plays a careful client by hand: its token
// requests fail on purpose (503, then invalid_grant) and it recovers, its
// grant is revoked and it signs in again; each verdict is ✓. A token that
// expired by itself and is sent again is called out as not refreshed.
func TestTraceFaultsRawClient(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	base, mcpURL := srv.base, srv.base+"/mcp"
	c := addClient(t, db, "--name", "raw", "--redirect-uri", "http://127.0.0.1/callback")
	list := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_forecast","arguments":{"latitude":47.6,"longitude":-122.3},` +
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"0"},"io.modelcontextprotocol/clientCapabilities":{}}}}`
	tok := signIn(t, base, c.ClientID, "http://127.0.0.1:5555/callback", mcpURL)
	if s := mcpCall(t, mcpURL, tok.AccessToken, list); s != 200 {
		t.Fatalf("first call: %d", s)
	}
	refresh := func(rt string) (int, tokenResponse) {
		s, tr, _ := postForm(t, base+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {c.ClientID}}, "", "")
		return s, tr
	}

	t.Run("token-503", func(t *testing.T) {
		cli(t, "", "fault", "token-503", "--client", c.ClientID, "--db", db)
		if s, _ := refresh(tok.RefreshToken); s != 503 {
			t.Fatalf("refresh with the fault armed: %d, want 503", s)
		}
		s, tr := refresh(tok.RefreshToken) // the client retries
		if s != 200 {
			t.Fatalf("retried refresh: %d", s)
		}
		tok = tr
		mcpCall(t, mcpURL, tok.AccessToken, list)
		v := waitTrace(t, db, "verdict token-503", func(e trace.Event) bool { return e.Route == "verdict token-503" })
		if v.Outcome != trace.Passed {
			t.Errorf("verdict %+v", v)
		}
	})
	t.Run("revoke", func(t *testing.T) {
		cli(t, "", "fault", "revoke", "--client", c.ClientID, "--db", db)
		if s := mcpCall(t, mcpURL, tok.AccessToken, list); s != 401 {
			t.Fatalf("call with a revoked grant: %d", s)
		}
		e := waitTrace(t, db, "401 after revoke", func(e trace.Event) bool { return e.ClientID == c.ClientID && e.Status == 401 })
		if !strings.Contains(e.Reason, "the grant was revoked") {
			t.Errorf("reason %q", e.Reason)
		}
		before := uint64(len(traceLines(t, db)))
		if s, _ := refresh(tok.RefreshToken); s != 400 {
			t.Fatalf("refresh of a revoked grant: %d", s)
		}
		e = waitTrace(t, db, "refresh after revoke", func(e trace.Event) bool {
			return e.Seq > before && e.ClientID == c.ClientID && e.Route == "POST /token" && e.Outcome == trace.Fail
		})
		if !strings.Contains(e.Reason, "revoked grant") {
			t.Errorf("refresh reason %q", e.Reason)
		}
		tok = signIn(t, base, c.ClientID, "http://127.0.0.1:5555/callback", mcpURL)
		mcpCall(t, mcpURL, tok.AccessToken, list)
		v := waitTrace(t, db, "verdict revoke", func(e trace.Event) bool { return e.Route == "verdict revoke" })
		if v.Outcome != trace.Passed || v.Reason != "signed in again ✓" {
			t.Errorf("verdict %+v", v)
		}
	})
	t.Run("expired token sent again", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "tenantless.db")
		srv := startServer(t, db, "--weather", "offline", "--access-token-ttl", "2s")
		base, mcpURL := srv.base, srv.base+"/mcp"
		c := addClient(t, db, "--name", "raw", "--redirect-uri", "http://127.0.0.1/callback")
		tok := signIn(t, base, c.ClientID, "http://127.0.0.1:5555/callback", mcpURL)
		deadline := time.Now().Add(10 * time.Second)
		for mcpCall(t, mcpURL, tok.AccessToken, list) != 401 {
			if time.Now().After(deadline) {
				t.Fatal("the 2 s token never expired")
			}
			time.Sleep(100 * time.Millisecond)
		}
		mcpCall(t, mcpURL, tok.AccessToken, list)
		e := waitTrace(t, db, "second 401 for the same expired token", func(e trace.Event) bool {
			return e.ClientID == c.ClientID && strings.HasPrefix(e.Reason, "expired token not refreshed")
		})
		if !strings.Contains(e.Reason, "the access token expired") {
			t.Errorf("reason %q", e.Reason)
		}
	})
}

// TestTraceRateLimit: a 429 is explained.
func TestTraceRateLimit(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline", "--rate-limits", "all")
	for i := 0; i < 200; i++ {
		s, _, _ := postForm(t, srv.base+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {"x"}}, "", "")
		if s == 429 {
			break
		}
	}
	e := waitTrace(t, db, "429", func(e trace.Event) bool { return e.Status == 429 })
	if !strings.HasPrefix(e.Reason, "rate limited") || !strings.Contains(e.Hint, "Retry-After") {
		t.Errorf("reason %q hint %q", e.Reason, e.Hint)
	}
}

// TestTraceHoldsNoSecret runs a full flow (registration with a client
// secret, sign-in, code exchange with PKCE, refresh, MCP calls,
// introspection, revocation, a wrong password) and then searches
// everything the trace shows (the CLI's JSON, its text, the /trace page)
// for every secret the flow saw: none may appear, not even in part.
func TestTraceHoldsNoSecret(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	base, mcpURL := srv.base, srv.base+"/mcp"
	redirect := "http://127.0.0.1:5555/callback"
	secrets := map[string]string{"admin password": adminPassword}

	reg, err := httpPostJSON(base+"/register", `{"redirect_uris":["`+redirect+`"],"client_name":"secretive","token_endpoint_auth_method":"client_secret_basic","grant_types":["authorization_code","refresh_token"]}`)
	if err != nil {
		t.Fatal(err)
	}
	clientID, _ := reg["client_id"].(string)
	secrets["client secret"], _ = reg["client_secret"].(string)
	secrets["registration access token"], _ = reg["registration_access_token"].(string)
	verifier := oauth2.GenerateVerifier()
	secrets["code verifier"] = verifier
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"secret-state-123"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}, "resource": {mcpURL}}
	b := browser.New(base)
	// A wrong password first: the password typed must not be kept either.
	wrong := "wrong-password-" + verifier[:8]
	secrets["wrong password"] = wrong
	if _, _, err := b.Authorize(base+"/authorize?"+q.Encode(), "admin", wrong, "allow"); err == nil {
		t.Fatal("a wrong password signed in")
	}
	loc, _, err := b.Authorize(base+"/authorize?"+q.Encode(), "admin", adminPassword, "allow")
	if err != nil {
		t.Fatal(err)
	}
	secrets["authorization code"] = loc.Query().Get("code")
	status, tok, _ := postForm(t, base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {secrets["authorization code"]},
		"redirect_uri": {redirect}, "code_verifier": {verifier}, "resource": {mcpURL}}, clientID, secrets["client secret"])
	if status != 200 {
		t.Fatalf("token: %d", status)
	}
	secrets["access token 1"], secrets["refresh token 1"] = tok.AccessToken, tok.RefreshToken
	mcpCall(t, mcpURL, tok.AccessToken, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	introspect(t, base, tok.AccessToken, clientID, secrets["client secret"])
	status, tok, _ = postForm(t, base+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, clientID, secrets["client secret"])
	if status != 200 {
		t.Fatalf("refresh: %d", status)
	}
	secrets["access token 2"], secrets["refresh token 2"] = tok.AccessToken, tok.RefreshToken
	mcpCall(t, mcpURL, tok.AccessToken, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	mcpCall(t, mcpURL, secrets["access token 1"], `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`) // rotated away: 401
	postForm(t, base+"/revoke", url.Values{"token": {tok.RefreshToken}}, clientID, secrets["client secret"])
	mcpCall(t, mcpURL, tok.AccessToken, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	for name, s := range secrets {
		if len(s) < 12 {
			t.Fatalf("secret %s %q is too short to search for", name, s)
		}
	}

	evs := traceLines(t, db)
	if len(evs) < 15 {
		t.Fatalf("the trace holds %d events, want the whole flow", len(evs))
	}
	var held strings.Builder
	held.WriteString(cli(t, "", "trace", "--json", "--db", db))
	held.WriteString(cli(t, "", "trace", "--db", db))
	admin := browser.New(base)
	_, _, _ = admin.Authorize(base+"/trace", "admin", adminPassword, "allow")
	page, err := admin.Get(base + "/trace")
	if err != nil || page.Status != 200 {
		t.Fatalf("/trace: %v %d", err, page.Status)
	}
	held.WriteString(page.Body)
	all := held.String()
	for name, s := range secrets {
		for _, part := range []string{s, s[:12], s[len(s)-12:]} {
			if strings.Contains(all, part) {
				t.Errorf("the trace holds the %s (%q)", name, part)
			}
		}
	}
	// Fingerprints tell tokens apart without revealing them.
	if !strings.Contains(all, trace.Fingerprint(secrets["access token 2"])) {
		t.Error("the trace does not show the access token's fingerprint")
	}
}

// TestTraceMetadataDocument: a client ID metadata document that is
// fetched shows as its own step; one whose client_id does not match its
// URL is refused, and the trace says what exactly was wrong.
func TestTraceMetadataDocument(t *testing.T) {
	redirect := "http://127.0.0.1:43125/callback"
	var base string
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := base + r.URL.Path
		if r.URL.Path == "/wrong.json" {
			id = base + "/other.json"
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"client_id":"` + id + `","client_name":"doc client","redirect_uris":["` + redirect + `"],"token_endpoint_auth_method":"none"}`))
	}))
	defer docs.Close()
	base = docs.URL
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: docs.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline", "--cimd-ca", ca, "--cimd-allow-host", strings.TrimPrefix(docs.URL, "https://"))
	for _, tc := range []struct {
		path    string
		outcome string
		reason  string
	}{
		{"/good.json", trace.OK, ""},
		{"/wrong.json", trace.Fail, "client metadata document at \"" + base + "/wrong.json\" could not be used: "},
	} {
		q := url.Values{"response_type": {"code"}, "client_id": {base + tc.path}, "redirect_uri": {redirect}, "state": {"state-12345"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		resp, err := http.Get(srv.base + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		e := waitTrace(t, db, "fetch of "+tc.path, func(e trace.Event) bool {
			return e.Route == "fetch client metadata document" && e.Step == base+tc.path
		})
		if e.Outcome != tc.outcome || !strings.HasPrefix(e.Reason, tc.reason) {
			t.Errorf("%s: outcome %q reason %q, want %q, %q", tc.path, e.Outcome, e.Reason, tc.outcome, tc.reason)
		}
		if tc.outcome == trace.Fail && !strings.Contains(e.Reason, "client_id") {
			t.Errorf("%s: the reason does not say what was wrong: %q", tc.path, e.Reason)
		}
	}
}

// TestTraceFollow: "tenantless trace --follow --client ID" prints new
// events of that client as they happen, as text.
func TestTraceFollow(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	c := addClient(t, db, "--name", "followed", "--redirect-uri", "http://127.0.0.1/callback")
	ctx, cancel := context.WithCancel(t.Context())
	e := testEnv(nil)
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"trace", "--follow", "--client", c.ClientID, "--db", db}, e) }()
	tok := signIn(t, srv.base, c.ClientID, "http://127.0.0.1:5555/callback", srv.base+"/mcp")
	mcpCall(t, srv.base+"/mcp", tok.AccessToken, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	out := e.Stdout.(*syncBuffer)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "POST /mcp (tools/list)") {
		if time.Now().After(deadline) {
			t.Fatalf("trace --follow printed:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("trace --follow exited %d: %s", code, e.Stderr.(*syncBuffer))
	}
	if !strings.Contains(out.String(), "✓") || !strings.Contains(out.String(), "client=followed user=admin") {
		t.Errorf("trace --follow printed:\n%s", out)
	}
}

// TestTraceRotateAndDelay: a rotated signing key and a slow answer are
// survived by a client that simply carries on.
func TestTraceRotateAndDelay(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	c := addClient(t, db, "--name", "steady", "--redirect-uri", "http://127.0.0.1/callback")
	mcpURL := srv.base + "/mcp"
	call := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_forecast","arguments":{"latitude":47.6,"longitude":-122.3},` +
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"0"},"io.modelcontextprotocol/clientCapabilities":{}}}}`
	tok := signIn(t, srv.base, c.ClientID, "http://127.0.0.1:5555/callback", mcpURL)
	mcpCall(t, mcpURL, tok.AccessToken, call)
	cli(t, "", "fault", "rotate-key", "--client", c.ClientID, "--db", db)
	if s := mcpCall(t, mcpURL, tok.AccessToken, call); s != 200 {
		t.Fatalf("call after rotation: %d", s)
	}
	v := waitTrace(t, db, "verdict rotate-key", func(e trace.Event) bool { return e.Route == "verdict rotate-key" })
	if v.Outcome != trace.Passed || v.Reason != "kept working ✓" {
		t.Errorf("verdict %+v", v)
	}
	cli(t, "", "fault", "delay", "--client", c.ClientID, "--delay", "1s", "--db", db)
	mcpCall(t, mcpURL, tok.AccessToken, call) // held back 1 s
	mcpCall(t, mcpURL, tok.AccessToken, call)
	v = waitTrace(t, db, "verdict delay", func(e trace.Event) bool { return e.Route == "verdict delay" })
	if v.Outcome != trace.Passed || !strings.Contains(v.Reason, "waited") {
		t.Errorf("verdict %+v", v)
	}
}

// statelessForecast is a 2026-07-28 tools/call of get_forecast.
const statelessForecast = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_forecast","arguments":{"latitude":47.6,"longitude":-122.3},` +
	`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"0"},"io.modelcontextprotocol/clientCapabilities":{}}}}`

// TestTracePageWithoutJavaScript uses /trace as a browser without
// JavaScript would: the page lists the attempts and reloads itself, and
// its fault form (CSRF-checked) injects a fault that the next load shows.
func TestTracePageWithoutJavaScript(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	c := addClient(t, db, "--name", "plain page", "--redirect-uri", "http://127.0.0.1/callback")
	tok := signIn(t, srv.base, c.ClientID, "http://127.0.0.1:5555/callback", srv.base+"/mcp")
	mcpCall(t, srv.base+"/mcp", tok.AccessToken, statelessForecast)
	waitTrace(t, db, "the MCP call", func(e trace.Event) bool { return e.ClientID == c.ClientID && isPath(e.Route, "/mcp") })

	b := browser.New(srv.base)
	_, _, _ = b.Authorize(srv.base+"/trace", "admin", adminPassword, "allow")
	p, err := b.Get(srv.base + "/trace?client=" + url.QueryEscape(c.ClientID))
	if err != nil || p.Status != 200 {
		t.Fatalf("/trace: %v %d", err, p.Status)
	}
	for _, want := range []string{`<noscript><meta http-equiv="refresh" content="5"></noscript>`, `data-client="` + c.ClientID + `"`,
		"plain page", "POST /token", "authorization_code grant", "tools/call get_forecast"} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("/trace lacks %q", want)
		}
	}
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	var fault browser.Form
	for _, f := range p.Forms {
		if f.Fields.Get("client_id") == c.ClientID && slices.Contains(f.Buttons["kind"], "revoke") {
			fault = f
		}
	}
	if fault.Action != "/trace/fault" {
		t.Fatalf("no fault form for the client on the page")
	}
	// A post without the CSRF token is refused and changes nothing.
	noCSRF := fault
	noCSRF.Fields = url.Values{"client_id": {c.ClientID}}
	if r, err := b.Submit(p.URL, noCSRF, url.Values{"kind": {"revoke"}}); err != nil || r.Status != 403 {
		t.Fatalf("fault without a CSRF token: %v %d, want 403", err, r.Status)
	}
	if s := mcpCall(t, srv.base+"/mcp", tok.AccessToken, statelessForecast); s != 200 {
		t.Fatalf("the refused fault revoked the grant: %d", s)
	}
	r, err := b.Submit(p.URL, fault, url.Values{"kind": {"revoke"}})
	if err != nil || r.Status != 200 || !strings.Contains(r.Body, "grant revoked") {
		t.Fatalf("fault from the page: %v %d", err, r.Status)
	}
	if s := mcpCall(t, srv.base+"/mcp", tok.AccessToken, statelessForecast); s != 401 {
		t.Errorf("after the page revoked the grant: %d, want 401", s)
	}
}

// TestTraceOff: --trace-size 0 serves no trace page, no admin endpoint
// and writes no token file.
func TestTraceOff(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline", "--trace-size", "0")
	if _, err := os.Stat(adminFile(db)); !os.IsNotExist(err) {
		t.Errorf("admin file with the trace off: %v", err)
	}
	for _, p := range []string{"/trace", "/admin/trace"} {
		resp, err := http.Get(srv.base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("%s with the trace off: %d, want 404", p, resp.StatusCode)
		}
	}
	if code := run(t.Context(), []string{"trace", "--db", db}, testEnv(nil)); code != 1 {
		t.Errorf("trace with the trace off: exit %d, want 1", code)
	}
}

// TestTraceStreamEndsOnShutdown: an open trace stream (the page's or
// "trace --follow") does not hold up the server's shutdown.
func TestTraceStreamEndsOnShutdown(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	info, err := readAdminFile(adminFile(db))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, info.URL+"/admin/trace?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+info.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	srv.stop() // fails the test if serve exits non-zero
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Logf("stream: %v", err)
	}
	t.Logf("shutdown with an open stream took %v", time.Since(start))
	if _, err := os.Stat(adminFile(db)); !os.IsNotExist(err) {
		t.Errorf("the admin token file outlived the server: %v", err)
	}
}
