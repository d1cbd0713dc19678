package resource

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantless/tenantless/resource/weather"
)

// BenchmarkToolsCall sends one tools/call of get_forecast (the offline
// provider, so no network) on an open MCP session through the Streamable
// HTTP handler, with and without the bearer middleware in front of it.
// The verifier is a stub that answers at once, like the authorization
// server's cache does for a token seen before, so "protected" minus
// "unprotected" is what the middleware itself costs: reading and
// restoring the body to find the tool's scope, the audience and scope
// checks, and go-sdk's TokenInfo hand-over. The target is
// protected throughput at least 95 % of unprotected.
func BenchmarkToolsCall(b *testing.B) {
	const base = "http://localhost:8080"
	provider, err := weather.New(weather.Config{Mode: weather.ModeOffline})
	if err != nil {
		b.Fatal(err)
	}
	info := TokenInfo{
		Subject:  "user_bench",
		ClientID: "dcr_bench",
		Scopes:   []string{ScopeRead, ScopeAlerts},
		Audience: []string{base + "/mcp"},
		Expiry:   time.Now().Add(24 * time.Hour),
	}
	s, err := New(Config{
		Provider:            provider,
		Verify:              func(context.Context, string) (TokenInfo, error) { return info, nil },
		PublicURL:           base,
		AuthorizationServer: base,
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"unprotected", s.mcp},
		{"protected", s.protect("/mcp", s.mcp)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			post := func(session, body string) *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(body))
				req.RemoteAddr = "127.0.0.1:40001"
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("Authorization", "Bearer bench-token")
				req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
				if session != "" {
					req.Header.Set("Mcp-Session-Id", session)
				}
				rec := httptest.NewRecorder()
				tc.h.ServeHTTP(rec, req)
				return rec
			}
			rec := post("", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}`)
			session := rec.Header().Get("Mcp-Session-Id")
			if rec.Code != http.StatusOK || session == "" {
				b.Fatalf("initialize: status %d, session %q: %s", rec.Code, session, rec.Body)
			}
			if rec := post(session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); rec.Code != http.StatusAccepted {
				b.Fatalf("initialized: status %d", rec.Code)
			}
			id := 1
			for b.Loop() {
				id++
				rec := post(session, `{"jsonrpc":"2.0","id":`+strconv.Itoa(id)+`,"method":"tools/call","params":{"name":"get_forecast","arguments":{"latitude":47.6062,"longitude":-122.3321}}}`)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"result"`) || strings.Contains(rec.Body.String(), `"isError":true`) {
					b.Fatalf("tools/call: status %d: %.300s", rec.Code, rec.Body)
				}
			}
		})
	}
}
