package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkGatewayToolCall compares an authorized tools/call through the
// gateway ("tenantless serve --upstream", in-process, real token checks,
// identity headers and JWT, audit and log line) with the same call sent to
// the upstream go-sdk server directly, over loopback HTTP with keep-alive.
// Each reports the median latency (median-µs) of serial calls, and
// calls/s with 16 concurrent clients (parallel/c16).
//
//	go test ./cmd/tenantless -run '^$' -bench GatewayToolCall -benchtime 2000x
func BenchmarkGatewayToolCall(b *testing.B) {
	s := mcp.NewServer(&mcp.Implementation{Name: "bench-upstream", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in struct {
		Text string `json:"text"`
	}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, struct{}{}, nil
	})
	up := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	defer up.Close()

	db := filepath.Join(b.TempDir(), "tenantless.db")
	base := startBenchGateway(b, db, up.URL+"/mcp")
	token := strings.TrimSpace(runForBench(b, "token", "--user", "admin", "--resource", base+"/mcp", "--scope", "mcp", "--db", db))

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for _, tc := range []struct{ name, url, token string }{
		{"direct", up.URL + "/mcp", ""},
		{"gateway", base + "/mcp", token},
	} {
		// 16 clients, each with its own session.
		sids := make([]string, 16)
		for i := range sids {
			sids[i] = benchSession(b, hc, tc.url, tc.token)
		}
		var ids atomic.Int64
		call := func(client int) error {
			body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`, ids.Add(1)+1)
			return benchPost(hc, tc.url, tc.token, sids[client], body, `"text":"hi"`)
		}
		b.Run(tc.name+"/serial", func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				t0 := time.Now()
				if err := call(0); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "median-µs")
		})
		b.Run(tc.name+"/parallel/c16", func(b *testing.B) {
			var wg sync.WaitGroup
			work := make(chan struct{}, b.N)
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			b.ResetTimer()
			t0 := time.Now()
			for c := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range work {
						if err := call(c); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "calls/s")
		})
	}
}

func startBenchGateway(b *testing.B, db, upstream string) string {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan int, 1)
	e := env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard,
		Getenv: func(k string) string {
			if k == "TENANTLESS_ADMIN_PASSWORD" {
				return benchAdminPassword
			}
			return ""
		},
		Ready: func(addr string) { ready <- addr }}
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--upstream", upstream}, e)
	}()
	var addr string
	select {
	case addr = <-ready:
	case <-done:
		cancel()
		b.Fatal("serve exited before it was ready")
	case <-time.After(30 * time.Second):
		cancel()
		b.Fatal("serve did not become ready")
	}
	b.Cleanup(func() { cancel(); <-done })
	_, port, _ := strings.Cut(addr, ":")
	return "http://localhost:" + port
}

func runForBench(b *testing.B, args ...string) string {
	b.Helper()
	var out bytes.Buffer
	e := env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	if code := run(context.Background(), args, e); code != 0 {
		b.Fatalf("tenantless %s: exit %d", strings.Join(args, " "), code)
	}
	return out.String()
}

// benchSession initializes an MCP session and returns its ID.
func benchSession(b *testing.B, hc *http.Client, url, token string) string {
	b.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}`))
	setBenchHeaders(req, token, "")
	res, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	sid := res.Header.Get("Mcp-Session-Id")
	if res.StatusCode != 200 || sid == "" {
		b.Fatalf("initialize at %s: %d, session %q", url, res.StatusCode, sid)
	}
	if err := benchPost(hc, url, token, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, ""); err != nil {
		b.Fatal(err)
	}
	return sid
}

func setBenchHeaders(req *http.Request, token, sid string) {
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
}

func benchPost(hc *http.Client, url, token, sid, body, want string) error {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	setBenchHeaders(req, token, sid)
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode >= 300 || !bytes.Contains(got, []byte(want)) {
		return fmt.Errorf("POST %s: %d %s %v", url, res.StatusCode, got, err)
	}
	return nil
}
