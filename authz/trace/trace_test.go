package trace_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantless/tenantless/authz/trace"
)

// clock is a test clock moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newRec(size int) (*trace.Recorder, *clock) {
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	return trace.New(trace.Config{Size: size, Issuer: "http://localhost:8080", Now: c.now}), c
}

// mcp401 is an MCP endpoint that refuses every request for want of a token.
func mcp401(rec *trace.Recorder) http.Handler {
	return rec.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.Note(r, trace.Note{Cause: trace.CauseNoToken})
		w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="http://localhost:8080/.well-known/oauth-protected-resource/mcp"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
}

func do(h http.Handler, method, target, ua string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	req.Header.Set("User-Agent", ua)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	return rr
}

func TestNilRecorder(t *testing.T) {
	var rec *trace.Recorder
	next := http.NotFoundHandler()
	if h := rec.Wrap(next); h == nil {
		t.Fatal("Wrap of a nil recorder returned nil")
	}
	rec.Note(httptest.NewRequest(http.MethodGet, "/mcp", nil), trace.Note{ClientID: "c"})
	rec.Tick()
	if got := rec.Events(trace.Filter{}); got != nil {
		t.Errorf("Events of nil: %v", got)
	}
	if _, err := rec.Inject(t.Context(), trace.Fault{Kind: trace.FaultExpire, ClientID: "c"}); err == nil {
		t.Error("Inject on a nil recorder succeeded")
	}
	if trace.New(trace.Config{Size: -1}) != nil {
		t.Error("a negative size should turn the trace off")
	}
}

func TestRingKeepsTheNewest(t *testing.T) {
	rec, _ := newRec(3)
	h := mcp401(rec)
	for range 5 {
		do(h, http.MethodPost, "/mcp", "a")
	}
	evs := rec.Events(trace.Filter{})
	if len(evs) != 3 || evs[0].Seq != 3 || evs[2].Seq != 5 {
		t.Fatalf("got %d events from seq %d, want 3 (seq 3..5)", len(evs), evs[0].Seq)
	}
}

func TestUntracedRoutes(t *testing.T) {
	rec, _ := newRec(10)
	h := rec.Wrap(http.NotFoundHandler())
	for _, p := range []string{"/static/style.css", "/account", "/trace", "/healthz"} {
		do(h, http.MethodGet, p, "a")
	}
	if n := len(rec.Events(trace.Filter{})); n != 0 {
		t.Errorf("%d events for untraced routes", n)
	}
}

func TestSubscribe(t *testing.T) {
	rec, _ := newRec(10)
	ch, cancel := rec.Subscribe(context.Background())
	defer cancel()
	do(mcp401(rec), http.MethodPost, "/mcp", "a")
	select {
	case e := <-ch:
		if e.Status != 401 || e.Outcome != trace.OK || !strings.Contains(e.Hint, "oauth-protected-resource/mcp") {
			t.Errorf("got %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
}

// TestStoppedAttempt: a client that stops after the first 401 is told it
// never fetched the protected resource metadata; one that stops after the
// metadata, that it never fetched the authorization server metadata.
func TestStoppedAttempt(t *testing.T) {
	rec, clk := newRec(100)
	ok := rec.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	do(mcp401(rec), http.MethodPost, "/mcp", "client-a")
	do(mcp401(rec), http.MethodPost, "/mcp", "client-b")
	do(ok, http.MethodGet, "/.well-known/oauth-protected-resource/mcp", "client-b")
	clk.add(10 * time.Second)
	rec.Tick()
	for _, e := range rec.Events(trace.Filter{}) {
		if e.Outcome == trace.Stopped {
			t.Fatalf("stopped after 10 s: %+v", e)
		}
	}
	clk.add(30 * time.Second)
	rec.Tick()
	var reasons []string
	for _, a := range rec.Attempts(trace.Filter{}) {
		if a.State != trace.Gone {
			t.Errorf("attempt %d state %q, want stopped", a.ID, a.State)
		}
		last := a.Events[len(a.Events)-1]
		reasons = append(reasons, last.Reason)
	}
	want := []string{
		"the client fetched the protected resource metadata but never the authorization server metadata",
		"the client never fetched the protected resource metadata after the 401",
	}
	if strings.Join(reasons, "|") != strings.Join(want, "|") {
		t.Errorf("got %q\nwant %q", reasons, want)
	}
}

// TestGaveUpVerdict: a client silent for 30 s after a fault gets a ✗.
func TestGaveUpVerdict(t *testing.T) {
	rec, clk := newRec(100)
	tok := rec.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.Note(r, trace.Note{ClientID: "c1", UserID: "u1", User: "alice", Token: "aaaabbbb", Issued: true})
		w.WriteHeader(200)
	}))
	do(tok, http.MethodPost, "/token", "a")
	if _, err := rec.Inject(t.Context(), trace.Fault{Kind: trace.FaultToken503, ClientID: "c1", By: "test"}); err != nil {
		t.Fatal(err)
	}
	clk.add(29 * time.Second)
	rec.Tick()
	clk.add(2 * time.Second)
	rec.Tick()
	var verdict trace.Event
	for _, e := range rec.Events(trace.Filter{ClientID: "c1"}) {
		if strings.HasPrefix(e.Route, "verdict") {
			verdict = e
		}
	}
	if verdict.Outcome != trace.Failed || verdict.Reason != "gave up: no request within 30 s ✗" {
		t.Errorf("verdict %+v", verdict)
	}
}

func TestInjectRefusesBadFaults(t *testing.T) {
	rec, _ := newRec(10)
	for _, f := range []trace.Fault{
		{Kind: "explode", ClientID: "c"},
		{Kind: trace.FaultExpire},
		{Kind: trace.FaultStepUp, ClientID: "c"},
		{Kind: trace.FaultDelay, ClientID: "c", Delay: time.Hour},
		{Kind: trace.FaultExpire, ClientID: "never-seen"},
	} {
		if _, err := rec.Inject(t.Context(), f); err == nil {
			t.Errorf("Inject(%+v) succeeded", f)
		}
	}
}

// TestBounded: many clients with made-up User-Agents do not grow the
// recorder beyond its ring.
func TestBounded(t *testing.T) {
	rec, _ := newRec(16)
	h := mcp401(rec)
	for i := range 2000 {
		do(h, http.MethodPost, "/mcp", "agent-"+strings.Repeat("x", i%50)+string(rune('a'+i%26))+time.Duration(i).String())
	}
	if n := len(rec.Attempts(trace.Filter{})); n > 16 {
		t.Errorf("%d attempts held for a ring of 16 events", n)
	}
	if n := rec.IndexSize(); n > 2*(16+128) { // pruned every 128 events
		t.Errorf("index holds %d entries", n)
	}
}
