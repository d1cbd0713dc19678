package trace_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantless/tenantless/authz/trace"
)

// BenchmarkWrap is the recorder's cost per traced request on its own: a
// token request whose handler does nothing but parse the form and note
// the client, user and token, with the trace off (the handler alone) and
// on. BenchmarkFlowTrace in authz measures it inside the real flow.
func BenchmarkWrap(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			var rec *trace.Recorder
			if on {
				rec = trace.New(trace.Config{Issuer: "http://localhost:8080"})
			}
			h := rec.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				rec.Note(r, trace.Note{ClientID: "c", UserID: "u", User: "alice", Token: "0123abcd", Grant: "89abcdef", Issued: true})
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"access_token":"x"}`))
			}))
			const body = "grant_type=refresh_token&refresh_token=secret&client_id=c"
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "http://localhost:8080/token", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.RemoteAddr = "127.0.0.1:40000"
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
