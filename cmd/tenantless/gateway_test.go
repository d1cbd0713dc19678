package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tenantless/tenantless/authz/trace"
)

// testUpstream is an unauthenticated go-sdk MCP server, the kind the
// gateway protects, that records the headers of every request it gets.
type testUpstream struct {
	url      string
	server   *mcp.Server
	mu       sync.Mutex
	requests []http.Header
	// progressSeen is closed by the test when its client got the slow
	// tool's first progress notification; the tool waits for it before
	// answering, so a gateway that buffered would never finish.
	progressSeen chan struct{}
}

func (u *testUpstream) headers() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.requests)
}

type whoamiOut struct {
	Name      string `json:"name"`
	ID        string `json:"id"`
	IDP       string `json:"idp"`
	Principal string `json:"principal"`
	Identity  string `json:"identity"`
	Auth      string `json:"authorization"`
	Cookie    string `json:"cookie"`
	APIKey    string `json:"api_key"`
}

func startTestUpstream(t *testing.T) *testUpstream {
	t.Helper()
	u := &testUpstream{progressSeen: make(chan struct{})}
	s := mcp.NewServer(&mcp.Implementation{Name: "test-upstream", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "the identity headers this server got"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, whoamiOut, error) {
			h := req.Extra.Header
			return nil, whoamiOut{
				Name: h.Get("X-MS-CLIENT-PRINCIPAL-NAME"), ID: h.Get("X-MS-CLIENT-PRINCIPAL-ID"), IDP: h.Get("X-MS-CLIENT-PRINCIPAL-IDP"),
				Principal: h.Get("X-MS-CLIENT-PRINCIPAL"), Identity: h.Get("X-Tenantless-Identity"),
				Auth: h.Get("Authorization"), Cookie: h.Get("Cookie"), APIKey: h.Get("X-Api-Key"),
			}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "slow", Description: "reports progress, then answers"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
			tok := req.Params.GetProgressToken()
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: 1, Total: 2, Message: "half way"}); err != nil {
				return nil, struct{}{}, err
			}
			select {
			case <-u.progressSeen:
			case <-time.After(20 * time.Second):
				return nil, struct{}{}, fmt.Errorf("the client never saw the progress notification")
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, struct{}{}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "delete_thing", Description: "needs the admin scope at the gateway"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "deleted"}}}, struct{}{}, nil
		})
	u.server = s
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.requests = append(u.requests, r.Header.Clone())
		u.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	u.url = ts.URL + "/mcp"
	return u
}

// spoofer adds made-up identity headers and a cookie to every request,
// as a malicious client would.
type spoofer struct{ next http.RoundTripper }

func (s spoofer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-MS-CLIENT-PRINCIPAL-NAME", "root")
	r.Header.Set("X-Ms-Client-Principal-Id", "0")
	r.Header.Set("X-MS-CLIENT-PRINCIPAL", base64.StdEncoding.EncodeToString([]byte(`{"auth_typ":"aad"}`)))
	r.Header.Set("X-Tenantless-Identity", "forged")
	r.Header.Set("Cookie", "session=stolen")
	return s.next.RoundTrip(r)
}

// TestGatewayHTTP puts the gateway in front of a go-sdk server over
// Streamable HTTP and drives it with the go-sdk client, signing in
// through the real pages: the upstream sees the user's identity (and
// never the client's token, cookies or made-up identity), the identity
// JWT verifies against /jwks.json, a tool scope steps up, progress
// streams before the result, the GET stream carries list changes, and
// every tool call is audited.
func TestGatewayHTTP(t *testing.T) {
	up := startTestUpstream(t)
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--upstream", up.url, "--scopes", "mcp", "--tool-scope", "delete_*=admin",
		"--upstream-header", "X-Api-Key=k1,k2")
	ctx := t.Context()

	// Discovery is today's: 401 with the metadata and the gateway's scope.
	res, err := http.Post(srv.base+"/mcp", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if p := challengeParams(t, res.Header.Get("WWW-Authenticate")); res.StatusCode != 401 || p["scope"] != "mcp" ||
		p["resource_metadata"] != srv.base+"/.well-known/oauth-protected-resource/mcp" {
		t.Fatalf("unauthenticated POST: %d %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}

	h, consents := goSDKHandler(t, srv.base, true, "")
	var progressOnce sync.Once
	listChanged := make(chan struct{}, 1)
	client := mcp.NewClient(&mcp.Implementation{Name: "gateway-test", Version: "0"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
			progressOnce.Do(func() { close(up.progressSeen) })
		},
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case listChanged <- struct{}{}:
			default:
			}
		},
	})
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: srv.base + "/mcp", OAuthHandler: h, HTTPClient: &http.Client{Transport: spoofer{http.DefaultTransport}},
	}, nil)
	if err != nil {
		t.Fatalf("connect through the gateway: %v", err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tools.Tools) != 3 {
		t.Fatalf("tools/list through the gateway: %d tools, want 3", len(tools.Tools))
	}

	call, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil || call.IsError {
		t.Fatalf("whoami: %v %v", err, call)
	}
	var who whoamiOut
	b, _ := json.Marshal(call.StructuredContent)
	_ = json.Unmarshal(b, &who)
	ts, _ := h.TokenSource(ctx)
	tok, _ := ts.Token()
	_, claims := jwtClaims(t, tok.AccessToken)
	sub, _ := claims["sub"].(string)
	clientID, _ := claims["client_id"].(string)
	if who.Name != "admin" || who.ID != sub || sub == "" || who.IDP != "tenantless" {
		t.Errorf("upstream saw name %q id %q idp %q, want admin, %q, tenantless", who.Name, who.ID, who.IDP, sub)
	}
	if who.Auth != "" || who.Cookie != "" {
		t.Errorf("upstream saw Authorization %q and Cookie %q, want neither", who.Auth, who.Cookie)
	}
	if who.APIKey != "k1,k2" {
		t.Errorf("upstream saw X-Api-Key %q, want the --upstream-header value k1,k2", who.APIKey)
	}
	raw, err := base64.StdEncoding.DecodeString(who.Principal)
	if err != nil {
		t.Fatalf("X-MS-CLIENT-PRINCIPAL %q: %v", who.Principal, err)
	}
	var p struct {
		AuthType string `json:"auth_typ"`
		NameType string `json:"name_typ"`
		RoleType string `json:"role_typ"`
		Claims   []struct {
			Typ string `json:"typ"`
			Val string `json:"val"`
		} `json:"claims"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range p.Claims {
		got[c.Typ] = c.Val
	}
	if p.AuthType != "tenantless" || p.NameType == "" || p.RoleType == "" || got[p.NameType] != "admin" || got["sub"] != sub ||
		got["client_id"] != clientID || got["scp"] != "mcp" {
		t.Errorf("principal %s, want auth_typ tenantless, name admin, sub %s, client_id %s, scp mcp", raw, sub, clientID)
	}
	verifyIdentityJWT(t, srv.base, who.Identity, up.url, sub, clientID)
	for i, hdr := range up.headers() {
		if hdr.Get("Authorization") != "" || hdr.Get("Cookie") != "" || hdr.Get("X-Ms-Client-Principal-Name") != "admin" {
			t.Errorf("upstream request %d: Authorization %q, Cookie %q, principal name %q", i, hdr.Get("Authorization"), hdr.Get("Cookie"), hdr.Get("X-Ms-Client-Principal-Name"))
		}
	}

	// Progress reaches the client before the result: the tool answers
	// only once the client has seen its progress notification.
	params := &mcp.CallToolParams{Name: "slow"}
	params.SetProgressToken("p1")
	if call, err := cs.CallTool(ctx, params); err != nil || call.IsError {
		t.Fatalf("slow: %v %v", err, call)
	}

	// The GET stream: a tool added upstream reaches the client as
	// notifications/tools/list_changed on the standalone stream.
	mcp.AddTool(up.server, &mcp.Tool{Name: "late"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{}, struct{}{}, nil
	})
	select {
	case <-listChanged:
	case <-time.After(20 * time.Second):
		t.Fatal("no tools/list_changed on the GET stream through the gateway")
	}

	// delete_thing needs the admin scope: 403, step-up, consent, success.
	if call, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "delete_thing"}); err != nil || call.IsError {
		t.Fatalf("delete_thing with step-up: %v %v", err, call)
	}
	if *consents != 2 {
		t.Errorf("consent pages %d, want 2 (sign-in, then the admin step-up)", *consents)
	}

	// The gateway's MCP requests are in the auth trace like the built-in
	// server's: the step-up's 403 with the missing scope, then the call.
	waitTrace(t, db, "the gateway's refused delete_thing", func(e trace.Event) bool {
		return e.Route == "POST /mcp" && e.Status == http.StatusForbidden && e.Outcome == trace.Fail &&
			strings.Contains(e.Step, "delete_thing") && strings.Contains(e.Reason+e.Hint, "admin")
	})
	waitTrace(t, db, "the gateway's delete_thing after the step-up", func(e trace.Event) bool {
		return e.Route == "POST /mcp" && e.Status == http.StatusOK && e.Outcome == trace.OK &&
			strings.Contains(e.Step, "delete_thing") && e.User == "admin"
	})

	waitFor(t, "tool calls in the audit log", func() bool {
		var details []string
		for _, e := range auditLog(t, db, "--type", "tool.called") {
			// The go-sdk client registers anew for the step-up, so
			// delete_thing has another client ID.
			if e.UserID == sub && e.Username == "admin" && strings.HasPrefix(e.ClientID, "dcr_") && e.Outcome == "success" {
				details = append(details, e.Detail)
			}
		}
		j := strings.Join(details, "|")
		return strings.Contains(j, "whoami: ok") && strings.Contains(j, "slow: ok") && strings.Contains(j, "delete_thing: ok")
	})
	if !strings.Contains(srv.stderr.String(), "tool call") {
		t.Error("no tool call log line")
	}
}

// verifyIdentityJWT checks X-Tenantless-Identity as an upstream would:
// signature by a key of /jwks.json, aud the upstream URL, at most 5
// minutes of life, and the user.
func verifyIdentityJWT(t *testing.T, base, token, aud, sub, clientID string) {
	t.Helper()
	tok, err := josejwt.ParseSigned(token)
	if err != nil || len(tok.Headers) != 1 {
		t.Fatalf("X-Tenantless-Identity %q is not a JWT: %v", token, err)
	}
	var set jose.JSONWebKeySet
	getJSON(t, base+"/jwks.json", &set)
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("identity JWT kid %q is not in /jwks.json", tok.Headers[0].KeyID)
	}
	var c josejwt.Claims
	var extra struct {
		Name     string `json:"name"`
		ClientID string `json:"client_id"`
		Scope    string `json:"scope"`
	}
	if err := tok.Claims(keys[0].Key, &c, &extra); err != nil {
		t.Fatalf("identity JWT does not verify with /jwks.json: %v", err)
	}
	if err := c.ValidateWithLeeway(josejwt.Expected{Issuer: base, Audience: josejwt.Audience{aud}, Subject: sub, Time: time.Now()}, 0); err != nil {
		t.Errorf("identity JWT claims: %v", err)
	}
	if life := c.Expiry.Time().Sub(c.IssuedAt.Time()); life <= 0 || life > 5*time.Minute {
		t.Errorf("identity JWT lives %v, want at most 5m", life)
	}
	if extra.Name != "admin" || extra.ClientID != clientID || extra.Scope != "mcp" {
		t.Errorf("identity JWT name %q client_id %q scope %q", extra.Name, extra.ClientID, extra.Scope)
	}
}

// TestGatewayStdio runs "serve -- COMMAND": the go-sdk client signs in
// through the real pages and its session gets its own process, which
// knows the user from its environment and never sees the gateway's own
// (TENANTLESS_ADMIN_PASSWORD is set for the server).
func TestGatewayStdio(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "stdioserver")
	if out, err := exec.Command("go", "build", "-o", bin, "../../resource/gateway/testdata/stdioserver").CombinedOutput(); err != nil {
		t.Fatalf("build the stdio test server: %v\n%s", err, out)
	}
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--scopes", "tools admin", "--", bin, "--unused-arg")
	if !strings.Contains(srv.stderr.String(), "Behind it      gateway to the stdio MCP server") {
		t.Errorf("banner does not say what is behind /mcp:\n%s", srv.stderr)
	}
	h, _ := goSDKHandler(t, srv.base, true, "")
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "gateway-test", Version: "0"}, nil).
		Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: srv.base + "/mcp", OAuthHandler: h}, nil)
	if err != nil {
		t.Fatalf("connect through the gateway: %v", err)
	}
	defer cs.Close()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "whoami"})
	if err != nil || res.IsError {
		t.Fatalf("whoami: %v %v", err, res)
	}
	var who struct {
		User   string   `json:"user"`
		UserID string   `json:"user_id"`
		Scopes string   `json:"scopes"`
		Env    []string `json:"env"`
	}
	b, _ := json.Marshal(res.StructuredContent)
	_ = json.Unmarshal(b, &who)
	ts, _ := h.TokenSource(t.Context())
	tok, _ := ts.Token()
	_, claims := jwtClaims(t, tok.AccessToken)
	if who.User != "admin" || who.UserID != claims["sub"] || who.Scopes != "tools" {
		t.Errorf("process identity %+v, want admin, %v, scopes tools", who, claims["sub"])
	}
	for _, n := range who.Env {
		if n == "TENANTLESS_ADMIN_PASSWORD" {
			t.Error("the gateway's admin password leaked into the stdio process")
		}
	}
	var md struct {
		ScopesSupported []string `json:"scopes_supported"`
	}
	getJSON(t, srv.base+"/.well-known/oauth-authorization-server", &md)
	if strings.Join(md.ScopesSupported, " ") != "tools admin" && !strings.Contains(strings.Join(md.ScopesSupported, " "), "tools admin") {
		t.Errorf("authorization server scopes %v, want the --scopes", md.ScopesSupported)
	}
}

// TestGatewayUpstreamDown: the server starts with its upstream down,
// /readyz says the upstream is not answering, and an MCP request gets a
// 502 JSON-RPC error naming it (checked before the token, so here a 401
// comes first: discovery still works).
func TestGatewayUpstreamDown(t *testing.T) {
	dead := "http://127.0.0.1:" + freePort(t) + "/mcp"
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--upstream", dead)
	res, err := http.Get(srv.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), dead) {
		t.Errorf("/readyz with the upstream down: %d %s", res.StatusCode, body)
	}
	res, err = http.Post(srv.base+"/mcp", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("unauthenticated POST with the upstream down: %d, want 401 (discovery works)", res.StatusCode)
	}
}

// TestGatewayFlags: mistakes in the gateway flags are usage errors that
// say what to write.
func TestGatewayFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--upstream", "ftp://x"}, "is not an http(s) URL"},
		{[]string{"--upstream", "http://127.0.0.1:1/mcp", "--", "npx"}, "not both"},
		{[]string{"--"}, "nothing after --"},
		{[]string{"--upstream", "http://127.0.0.1:1/mcp", "--tool-scope", "delete_*"}, "GLOB=SCOPE"},
		{[]string{"--upstream", "http://127.0.0.1:1/mcp", "--upstream-header", "X-Key"}, "NAME=VALUE"},
		{[]string{"--tool-scope", "a=b"}, "need --upstream"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, "", append([]string{"serve", "--db", filepath.Join(t.TempDir(), "x.db")}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

// TestGatewayShutdown stops the server while a client is connected with
// its GET stream open: the shutdown is clean (exit 0: the stream does not
// hold it past its deadline) and, for a stdio upstream, the session's
// process is gone.
func TestGatewayShutdown(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "stdioserver")
	if out, err := exec.Command("go", "build", "-o", bin, "../../resource/gateway/testdata/stdioserver").CombinedOutput(); err != nil {
		t.Fatalf("build the stdio test server: %v\n%s", err, out)
	}
	up := startTestUpstream(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"http", []string{"--upstream", up.url}},
		{"stdio", []string{"--", bin}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, filepath.Join(t.TempDir(), "tenantless.db"), tc.args...)
			h, _ := goSDKHandler(t, srv.base, true, "")
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "shutdown-test", Version: "0"}, nil).
				Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: srv.base + "/mcp", OAuthHandler: h}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			if _, err := cs.ListTools(t.Context(), nil); err != nil {
				t.Fatal(err)
			}
			srv.stop() // fails the test if serve exits non-zero
			if tc.name == "stdio" && !strings.Contains(srv.stderr.String(), "reason=\"the gateway is shutting down\"") {
				t.Errorf("the stdio process was not ended at shutdown:\n%s", srv.stderr)
			}
		})
	}
}

// TestBannerNamesGatewayServer: the copy-paste client snippets call the
// user's own server "mcp", not "weather", in gateway mode.
func TestBannerNamesGatewayServer(t *testing.T) {
	for _, tc := range []struct {
		behind, name string
	}{
		{"the built-in weather tools (data: offline)", "weather"},
		{"gateway to http://127.0.0.1:9000/mcp", "mcp"},
	} {
		b := banner("http://localhost:8080", "t.db", "", false, tc.behind)
		for _, want := range []string{
			`"servers": { "` + tc.name + `": {`,
			"claude mcp add --transport http " + tc.name + " http://localhost:8080/mcp",
		} {
			if !strings.Contains(b, want) {
				t.Errorf("banner behind %q lacks %q:\n%s", tc.behind, want, b)
			}
		}
	}
}
