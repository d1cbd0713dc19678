package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// buildStdioServer builds testdata/stdioserver, a go-sdk stdio server.
func buildStdioServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "stdioserver")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/stdioserver").CombinedOutput()
	if err != nil {
		t.Fatalf("build the stdio test server: %v\n%s", err, out)
	}
	return bin
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

type stdioWho struct {
	User     string   `json:"user"`
	UserID   string   `json:"user_id"`
	Scopes   string   `json:"scopes"`
	ClientID string   `json:"client_id"`
	PID      int      `json:"pid"`
	Env      []string `json:"env"`
}

func whoamiOf(t *testing.T, cs *mcp.ClientSession) stdioWho {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "whoami"})
	if err != nil || res.IsError {
		t.Fatalf("whoami: %v %v", err, res)
	}
	var w stdioWho
	b, _ := json.Marshal(res.StructuredContent)
	_ = json.Unmarshal(b, &w)
	return w
}

// TestStdio runs a stdio server per session: each user's session has its
// own process with that user's identity and nothing else of the gateway's
// environment; stderr is logged with the session; progress reaches the
// client; a session ID is refused to another user; a process that exits
// fails its session with a JSON-RPC error and a new session gets a fresh
// process; DELETE and Close end processes.
func TestStdio(t *testing.T) {
	bin := buildStdioServer(t)
	logs := &logBuffer{}
	env := map[string]string{"PATH": "/usr/bin:/bin", "HOME": "/home/x", "ADMIN_SECRET": "hunter2", "TENANTLESS_ADMIN_PASSWORD": "pw", "EXTRA": "1"}
	base, g := startGateway(t, Config{Command: []string{bin}, Env: []string{"PATH", "HOME", "EXTRA"}, Getenv: func(k string) string { return env[k] },
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	var progress atomic.Int32
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "0"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, _ *mcp.ProgressNotificationClientRequest) { progress.Add(1) },
	})
	connectAs := func(token string) *mcp.ClientSession {
		cs, err := client.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp", HTTPClient: &http.Client{Transport: bearer{token}}}, nil)
		if err != nil {
			t.Fatalf("connect as %s: %v", token, err)
		}
		t.Cleanup(func() { _ = cs.Close() })
		return cs
	}
	alice, bob := connectAs("alice-token"), connectAs("bob-token")
	wa, wb := whoamiOf(t, alice), whoamiOf(t, bob)
	if wa.User != "alice" || wa.UserID != "alice" || wa.ClientID != "client-of-alice" || wa.Scopes != "mcp" || wb.User != "bob" {
		t.Errorf("process identities %+v and %+v", wa, wb)
	}
	if wa.PID == wb.PID || wa.PID == 0 {
		t.Errorf("alice and bob share process %d", wa.PID)
	}
	if got := strings.Join(wa.Env, " "); got != "EXTRA HOME PATH TENANTLESS_CLIENT_ID TENANTLESS_SCOPES TENANTLESS_USER TENANTLESS_USER_ID" {
		t.Errorf("process environment %s, want only the identity, PATH, HOME and --upstream-env EXTRA", got)
	}
	if !strings.Contains(logs.String(), "stdioserver started for alice") || !strings.Contains(logs.String(), "session="+alice.ID()) {
		t.Errorf("stderr not logged with the session:\n%s", logs)
	}

	params := &mcp.CallToolParams{Name: "slow"}
	params.SetProgressToken("p")
	if res, err := alice.CallTool(t.Context(), params); err != nil || res.IsError {
		t.Fatalf("slow: %v %v", err, res)
	}
	waitUntil(t, "three progress notifications", func() bool { return progress.Load() == 3 })

	call := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"whoami"}}`
	if res, body := post(t, base+"/mcp", "bob-token", alice.ID(), call); res.StatusCode != http.StatusForbidden {
		t.Errorf("bob using alice's session: %d %s, want 403", res.StatusCode, body)
	}

	// The process exits: the call in flight fails with a JSON-RPC error,
	// so do later calls in that session; a new session works.
	_, err := alice.CallTool(t.Context(), &mcp.CallToolParams{Name: "crash"})
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("crash: %v, want an error saying the process exited", err)
	}
	waitUntil(t, "crashed process reaped", func() bool { return !alive(wa.PID) })
	if !strings.Contains(logs.String(), "stdio MCP server process exited") || !strings.Contains(logs.String(), "exit status 3") {
		t.Errorf("no clear log line for the exit:\n%s", logs)
	}
	if _, err := alice.CallTool(t.Context(), &mcp.CallToolParams{Name: "whoami"}); err == nil {
		t.Error("a call in the crashed session succeeded")
	}
	alice2 := connectAs("alice-token")
	if w := whoamiOf(t, alice2); w.PID == wa.PID || w.User != "alice" {
		t.Errorf("new session after the crash: %+v", w)
	}

	// DELETE ends bob's process; Close ends the rest.
	_ = bob.Close()
	waitUntil(t, "bob's process ended by DELETE", func() bool { return !alive(wb.PID) })
	w2 := whoamiOf(t, alice2)
	g.Close()
	if alive(w2.PID) {
		t.Error("Close left a process running")
	}
}

// TestStdioLimits: beyond MaxSessions, 503 with Retry-After; an idle
// session's process ends.
func TestStdioLimits(t *testing.T) {
	bin := buildStdioServer(t)
	base, _ := startGateway(t, Config{Command: []string{bin}, MaxSessions: 1, IdleTimeout: 300 * time.Millisecond})
	alice := connect(t, base+"/mcp", "alice-token")
	res, body := post(t, base+"/mcp", "bob-token", "", initBody)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(body, `"id":1`) {
		t.Errorf("second session with a limit of 1: %d Retry-After %q %s, want 503 with Retry-After and a JSON-RPC error",
			res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	w := whoamiOf(t, alice)
	waitUntil(t, "idle process ended", func() bool { return !alive(w.PID) })
	if _, err := alice.CallTool(t.Context(), &mcp.CallToolParams{Name: "whoami"}); err == nil {
		t.Error("a call in the idle-ended session succeeded")
	}
	bob := connect(t, base+"/mcp", "bob-token") // the slot is free again
	if w := whoamiOf(t, bob); w.User != "bob" {
		t.Errorf("bob's session: %+v", w)
	}
}
