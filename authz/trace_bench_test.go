package authz_test

import (
	"testing"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/authz/trace"
)

// BenchmarkFlowTrace is BenchmarkFlow's signed-in flow (authorize with a
// remembered consent, code exchange, refresh) with the auth trace off and
// on: the recorder's middleware around the handler tree and the notes the
// handlers add. Compare the two ns/op (README, "Why does my client get
// 401?"); each sub-benchmark has its own server and database.
func BenchmarkFlowTrace(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			var rec *trace.Recorder
			if on {
				rec = trace.New(trace.Config{Issuer: benchIssuer})
			}
			h := newBenchAS(b, func(c *authz.Config) { c.Trace = rec })
			if on {
				h.front = rec.Wrap(h.mux)
			}
			jar := h.signInAndConsent(b)
			defer reportCPU(b)()
			for b.Loop() {
				if _, err := h.flow(jar); err != nil {
					b.Fatal(err)
				}
			}
			if on && len(rec.Events(trace.Filter{})) == 0 {
				b.Fatal("the trace recorded nothing")
			}
		})
	}
}
