package main

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoopbackBase(t *testing.T) {
	tests := []struct {
		raw, want string
		ok        bool
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", true},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080", true},
		{"http://localhost:8080", "http://localhost:8080", true},
		{"http://LOCALHOST:8080", "http://LOCALHOST:8080", true},
		{"http://[::1]:8080", "http://[::1]:8080", true},
		{"http://127.1.2.3:8080", "http://127.1.2.3:8080", true},
		{"https://127.0.0.1:8443", "https://127.0.0.1:8443", true},
		{"http://10.0.0.1:8080", "", false},
		{"http://192.168.1.20:8080", "", false},
		{"http://example.com", "", false},
		{"http://localhost.example.com:8080", "", false},
		{"http://0.0.0.0:8080", "", false},
		{"ftp://127.0.0.1", "", false},
		{"127.0.0.1:8080", "", false},
		{"http://127.0.0.1:8080/mcp", "", false},
		{"http://127.0.0.1:8080/?x=1", "", false},
	}
	for _, tc := range tests {
		got, err := loopbackBase(tc.raw)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("loopbackBase(%q) = %q, %v; want %q, ok %v", tc.raw, got, err, tc.want, tc.ok)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8080":    true,
		"[::1]:8080":        true,
		"10.1.2.3:80":       false,
		"[2001:db8::1]:443": false,
	} {
		err := loopbackOnly("tcp", addr, nil)
		if (err == nil) != ok {
			t.Errorf("loopbackOnly(%q) = %v, want ok %v", addr, err, ok)
		}
		if !ok && !errors.Is(err, errNotLoopback) {
			t.Errorf("loopbackOnly(%q) = %v, want errNotLoopback", addr, err)
		}
	}
}

// TestRefusesRemoteTarget runs the command against a non-loopback URL:
// it must fail before sending anything.
func TestRefusesRemoteTarget(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-url", "http://192.0.2.1:8080", "-d", "1s", "flow"}, &stdout, &stderr,
		func(string) string { return "" })
	if code != 1 || !strings.Contains(stderr.String(), "not on this machine's loopback interface") {
		t.Errorf("exit %d, stderr %q; want 1 and a loopback refusal", code, stderr.String())
	}
}

func TestParseFlags(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"TENANTLESS_ADMIN_PASSWORD": "from-env", "TENANTLESS_LOAD_CLIENT_SECRET": ""}[k]
	}
	c, err := parseFlags([]string{"-c", "1,16", "flow", "-d", "5s", "all"}, &bytes.Buffer{}, env)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 16}, c.concurrency); diff != "" {
		t.Errorf("concurrency (-want +got):\n%s", diff)
	}
	if c.password != "from-env" || c.duration != 5*time.Second {
		t.Errorf("password %q, duration %v", c.password, c.duration)
	}
	if want := append([]string{"flow"}, allWorkloads...); !cmp.Equal(want, c.workloads) {
		t.Errorf("workloads %v, want %v", c.workloads, want)
	}
	for _, args := range [][]string{
		{},
		{"nope"},
		{"-c", "0", "flow"},
		{"-c", "a", "flow"},
		{"-d", "0", "flow"},
		{"-runs", "0", "flow"},
		{"-client-id", "x", "introspect"},
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}, env); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

func TestPercentiles(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	p50, p95, p99, maxLat := percentiles(lat)
	got := []time.Duration{p50, p95, p99, maxLat}
	want := []time.Duration{50 * time.Millisecond, 95 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond}
	if !cmp.Equal(got, want) {
		t.Errorf("percentiles = %v, want %v", got, want)
	}
	if a, b, c, d := percentiles(nil); a+b+c+d != 0 {
		t.Error("percentiles of nothing are not zero")
	}
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median = %v, want 2", got)
	}
	if got := median([]int64{4, 1, 3, 2}); got != 2 {
		t.Errorf("median = %v, want 2 (integer mean of 2 and 3)", got)
	}
}

func TestParseProc(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := []byte("1234 (tenant less) (x)) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 12345 1000000 5000 18446744073709551615")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 3s", cpu, err)
	}
	status := []byte("Name:\ttenantless\nVmPeak:\t 1000 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n")
	rss, err := parseStatusKB(status, "VmRSS")
	if err != nil || rss != 20<<20 {
		t.Errorf("parseStatusKB = %d, %v; want %d", rss, err, 20<<20)
	}
	if _, err := parseStatusKB(status, "VmSwap"); err == nil {
		t.Error("a missing line parsed")
	}
	if _, err := readProc(-1); err == nil {
		t.Error("readProc of no process succeeded")
	}
}

func TestPageForm(t *testing.T) {
	page := []byte(`<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="abc&#43;def">
<input type="hidden" name="next" value="/authorize?client_id=x&amp;scope=weather%3Aread">
<input type="text" id="username" name="username" value="" autocomplete="username">
<input type="checkbox" name="granted_scope" value="weather:read" id="scope-0" checked>
</form>`)
	want := url.Values{
		"csrf_token":    {"abc+def"},
		"next":          {"/authorize?client_id=x&scope=weather%3Aread"},
		"granted_scope": {"weather:read"},
	}
	if diff := cmp.Diff(want, pageForm(page)); diff != "" {
		t.Errorf("pageForm (-want +got):\n%s", diff)
	}
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&opError{step: "token", status: 400, kind: "invalid_grant"}, "token: status 400 invalid_grant"},
		{&opError{step: "authorize", status: 200, kind: "no redirect"}, "authorize: status 200 no redirect"},
		{&opError{step: "token", err: context.DeadlineExceeded}, "token: timeout"},
		{&opError{step: "mcp", err: errNotLoopback}, "mcp: not loopback"},
		{errors.New("boom"), "other: boom"},
	}
	for _, tc := range tests {
		if got := errorKind(tc.err); got != tc.want {
			t.Errorf("errorKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestCheckToolResult(t *testing.T) {
	sse := reply{header: map[string][]string{"Content-Type": {"text/event-stream"}},
		body: []byte("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[],\"isError\":false}}\n\n")}
	if err := checkToolResult(sse, 7); err != nil {
		t.Errorf("SSE result: %v", err)
	}
	if err := checkToolResult(sse, 8); err == nil {
		t.Error("a result for another request ID passed")
	}
	toolErr := reply{header: map[string][]string{"Content-Type": {"application/json"}},
		body: []byte(`{"jsonrpc":"2.0","id":7,"result":{"isError":true}}`)}
	if err := checkToolResult(toolErr, 7); err == nil {
		t.Error("a tool error passed")
	}
}
