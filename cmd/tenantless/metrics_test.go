package main

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestHealthAndMetrics checks /healthz, /readyz and the Prometheus
// metrics on their separate listener.
func TestHealthAndMetrics(t *testing.T) {
	metricsAddr := "127.0.0.1:" + freePort(t)
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline", "--metrics-addr", metricsAddr)
	get := func(u string) (int, string) {
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := get(srv.base + p); code != 200 || body != "ok\n" {
			t.Errorf("%s: %d %q", p, code, body)
		}
	}
	if code, _ := get(srv.base + "/metrics"); code != 404 {
		t.Errorf("/metrics on the main listener: %d, want 404 (metrics have their own listener)", code)
	}
	c := addClient(t, db, "--redirect-uri", "http://127.0.0.1/callback")
	tok := tokenFor(t, srv.base, c.ClientID, "admin", adminPassword, "weather:read", srv.base+"/mcp")
	sid := session(t, srv.base+"/mcp", tok.AccessToken)
	mcpPost(t, srv.base+"/mcp", tok.AccessToken, sid, callFcst, nil)
	addDCR(t, srv.base)

	if code, _ := get("http://" + metricsAddr + "/debug/pprof/"); code != 404 {
		t.Errorf("/debug/pprof/ without --pprof: %d, want 404", code)
	}
	code, body := get("http://" + metricsAddr + "/metrics")
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, want := range []string{
		`tenantless_http_requests_total{method="POST",route="POST /token",status="200"} 1`,
		`tenantless_http_request_duration_seconds_bucket{route="GET /authorize"`,
		`tenantless_events_total{outcome="success",type="token.issued"} 1`,
		`tenantless_events_total{outcome="success",type="consent.granted"} 1`,
		`tenantless_events_total{outcome="success",type="client.registered"} 1`,
		`tenantless_tool_calls_total{outcome="ok",tool="get_forecast"} 1`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestPprof checks that --pprof serves the profiler on the metrics
// listener only, and that it needs --metrics-addr.
func TestPprof(t *testing.T) {
	metricsAddr := "127.0.0.1:" + freePort(t)
	srv := startServer(t, filepath.Join(t.TempDir(), "tenantless.db"), "--weather", "offline", "--metrics-addr", metricsAddr, "--pprof")
	for u, want := range map[string]int{
		"http://" + metricsAddr + "/debug/pprof/":                  200,
		"http://" + metricsAddr + "/debug/pprof/goroutine?debug=1": 200,
		srv.base + "/debug/pprof/":                                 404,
	} {
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", u, res.StatusCode, want)
		}
	}

	var stderr strings.Builder
	code := run(t.Context(), []string{"serve", "--pprof", "--db", filepath.Join(t.TempDir(), "x.db")},
		env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr, Getenv: func(string) string { return "" }})
	if code != 2 || !strings.Contains(stderr.String(), "--metrics-addr") {
		t.Errorf("serve --pprof without --metrics-addr: exit %d, stderr %q; want 2 and a hint naming --metrics-addr", code, stderr.String())
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
