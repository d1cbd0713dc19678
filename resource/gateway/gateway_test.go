package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tenantless/tenantless/resource"
)

// users are the tokens the test verifier knows: token → subject.
var users = map[string]string{"alice-token": "alice", "bob-token": "bob"}

func testVerifier(base string) resource.Verifier {
	return func(_ context.Context, tok string) (resource.TokenInfo, error) {
		sub, ok := users[tok]
		if !ok {
			return resource.TokenInfo{}, errors.New("unknown token")
		}
		return resource.TokenInfo{Subject: sub, ClientID: "client-of-" + sub, Scopes: []string{"mcp"},
			Audience: []string{base + "/mcp"}, Expiry: time.Now().Add(time.Hour)}, nil
	}
}

// startGateway serves a gateway for cfg (Upstream or Command set) on a
// loopback httptest server and returns its base URL.
func startGateway(t *testing.T, cfg Config) (string, *Gateway) {
	t.Helper()
	mux := http.NewServeMux()
	ts := httptest.NewUnstartedServer(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.Listener = ln
	base := "http://" + ln.Addr().String()
	cfg.Verify = testVerifier(base)
	cfg.PublicURL, cfg.AuthorizationServer = base, base
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.Mount(mux)
	ts.Start()
	t.Cleanup(func() { ts.Close(); g.Close() })
	return base, g
}

// bearer adds a token to every request of a go-sdk client.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func connect(t *testing.T, endpoint, token string) *mcp.ClientSession {
	t.Helper()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "0"}, nil).Connect(t.Context(),
		&mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{Transport: bearer{token}}}, nil)
	if err != nil {
		t.Fatalf("connect as %s: %v", token, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// post sends one JSON-RPC body as token, with session sid if set.
func post(t *testing.T, url, token, sid, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`

func upstreamServer(t *testing.T) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in struct {
		Text string `json:"text"`
	}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text + " from " + req.Extra.Header.Get(HeaderPrincipalName)}}}, struct{}{}, nil
	})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(ts.Close)
	return ts.URL + "/mcp"
}

// TestSessionsBoundToUser: two users each get their own upstream session;
// a session ID used with the other user's token is refused with 403 (as
// go-sdk refuses it), an unknown one gets 404, and after DELETE the
// session is gone.
func TestSessionsBoundToUser(t *testing.T) {
	base, _ := startGateway(t, Config{Upstream: upstreamServer(t)})
	alice := connect(t, base+"/mcp", "alice-token")
	bob := connect(t, base+"/mcp", "bob-token")
	if alice.ID() == "" || alice.ID() == bob.ID() {
		t.Fatalf("session IDs %q and %q: want two different sessions", alice.ID(), bob.ID())
	}
	for _, tc := range []struct {
		cs   *mcp.ClientSession
		want string
	}{{alice, "hi from alice"}, {bob, "hi from bob"}} {
		res, err := tc.cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Content[0].(*mcp.TextContent).Text; got != tc.want {
			t.Errorf("echo: got %q, want %q", got, tc.want)
		}
	}
	call := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}`
	if res, body := post(t, base+"/mcp", "bob-token", alice.ID(), call); res.StatusCode != http.StatusForbidden || !strings.Contains(body, `"id":7`) {
		t.Errorf("bob using alice's session: %d %s, want 403 with a JSON-RPC error", res.StatusCode, body)
	}
	if res, body := post(t, base+"/mcp", "bob-token", "no-such-session", call); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown session: %d %s, want 404", res.StatusCode, body)
	}
	sid := alice.ID()
	_ = alice.Close()
	if res, body := post(t, base+"/mcp", "alice-token", sid, call); res.StatusCode != http.StatusNotFound {
		t.Errorf("alice's session after DELETE: %d %s, want 404", res.StatusCode, body)
	}
}

// TestUpstreamDown: a refused connection is a 502 with a JSON-RPC error
// naming the upstream, and Ready says so.
func TestUpstreamDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String() + "/mcp"
	ln.Close()
	base, g := startGateway(t, Config{Upstream: dead, ConnectTimeout: time.Second})
	res, body := post(t, base+"/mcp", "alice-token", "", initBody)
	var msg struct {
		ID    int `json:"id"`
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &msg); err != nil || res.StatusCode != http.StatusBadGateway || msg.ID != 1 ||
		!strings.Contains(msg.Error.Message, dead) || msg.Error.Code != codeUpstream {
		t.Errorf("initialize with the upstream down: %d %s, want 502 with a JSON-RPC error naming %s", res.StatusCode, body, dead)
	}
	if err := g.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), dead) {
		t.Errorf("Ready: %v, want an error naming %s", err, dead)
	}
}

// TestUpstream401 reports an upstream that wants credentials of its own
// as a misconfiguration, not as the client's problem.
func TestUpstream401(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="up"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer up.Close()
	base, _ := startGateway(t, Config{Upstream: up.URL + "/mcp"})
	res, body := post(t, base+"/mcp", "alice-token", "", initBody)
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, "misconfigured") || !strings.Contains(body, "--upstream-header") ||
		res.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("upstream 401: %d %q %s, want 502 saying misconfigured, no challenge", res.StatusCode, res.Header.Get("WWW-Authenticate"), body)
	}
}

// TestRequestChecks: the guard's answers, and bodies the gateway refuses
// before the upstream sees them.
func TestRequestChecks(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); w.WriteHeader(202) }))
	defer up.Close()
	base, _ := startGateway(t, Config{Upstream: up.URL, ToolScopes: []ToolScope{{Glob: "rm_*", Scope: "admin"}}})
	for _, tc := range []struct {
		name, token, body string
		status            int
		challenge         string
	}{
		{"no token", "", initBody, 401, `resource_metadata="` + base + `/.well-known/oauth-protected-resource/mcp", scope="mcp"`},
		{"bad token", "nope", initBody, 401, `error="invalid_token"`},
		{"tool scope", "alice-token", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"rm_all"}}`, 403, `error="insufficient_scope"`},
		{"tool scope in a batch", "alice-token", `[{"jsonrpc":"2.0","method":"notifications/x"},{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"rm_x"}}]`, 403, `scope="mcp admin"`},
		{"not JSON", "alice-token", `{`, 400, ""},
		{"too large", "alice-token", `{"jsonrpc":"2.0","id":1,"method":"x","params":{"p":"` + strings.Repeat("a", maxBody) + `"}}`, 413, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := post(t, base+"/mcp", tc.token, "", tc.body)
			if res.StatusCode != tc.status || !strings.Contains(res.Header.Get("WWW-Authenticate"), tc.challenge) {
				t.Errorf("got %d %q %s, want %d with %q", res.StatusCode, res.Header.Get("WWW-Authenticate"), body, tc.status, tc.challenge)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("upstream got %d requests, want none", n)
	}
	// The metadata names the gateway's scopes.
	res, err := http.Get(base + "/.well-known/oauth-protected-resource/mcp")
	if err != nil {
		t.Fatal(err)
	}
	var md resource.ProtectedResourceMetadata
	_ = json.NewDecoder(res.Body).Decode(&md)
	res.Body.Close()
	if md.Resource != base+"/mcp" || strings.Join(md.ScopesSupported, " ") != "mcp" {
		t.Errorf("metadata %+v", md)
	}
}

// FuzzParseMessages: any body is parsed or refused, never a panic.
func FuzzParseMessages(f *testing.F) {
	f.Add([]byte(initBody))
	f.Add([]byte(`[{"id":null,"method":"tools/call","params":[1]}]`))
	f.Add([]byte(`{"id":1,"method":"tools/call","params":{"name":7}}`))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseMessages(b) })
}

// TestToolSchemaWarnings: a tools/list from the upstream whose schemas
// single-type clients would trip over is passed on unchanged and logged
// once per tool and problem.
func TestToolSchemaWarnings(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "1"}, nil)
	s.AddTool(&mcp.Tool{Name: "search", InputSchema: map[string]any{
		"type":       "object",
		"properties": map[string]any{"limit": map[string]any{"type": []any{"integer", "null"}}},
	}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	})
	up := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(up.Close) // after the client and the gateway (cleanups run last first)
	logs := &logBuffer{}
	base, _ := startGateway(t, Config{Upstream: up.URL, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	cs := connect(t, base+"/mcp", "alice-token")
	for range 2 {
		res, err := cs.ListTools(t.Context(), nil)
		if err != nil || len(res.Tools) != 1 {
			t.Fatalf("tools/list: %v %v", err, res)
		}
	}
	if n := strings.Count(logs.String(), `msg="upstream tool schema may break clients" tool=search schema=inputSchema problem="#/properties/limit: type is a list`); n != 1 {
		t.Errorf("%d schema warnings for search, want 1:\n%s", n, logs)
	}
}
