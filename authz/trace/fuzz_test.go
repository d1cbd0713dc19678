package trace_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantless/tenantless/authz/trace"
)

// FuzzWrap sends arbitrary requests (path, Authorization, body) through
// the recorder to a handler that answers with an arbitrary status,
// Location, WWW-Authenticate and JSON error body: the recorder must never
// panic, and must never keep the bearer token or the body.
func FuzzWrap(f *testing.F) {
	f.Add("/token", "Bearer abc.def", "grant_type=refresh_token&refresh_token=sekrit", 400, `{"error":"invalid_grant","error_description":"x"}`, "")
	f.Add("/authorize", "", "", 303, "", "http://127.0.0.1/cb?error=access_denied&state=s")
	f.Add("/mcp", "Bearer "+strings.Repeat("t", 100), `{"jsonrpc":"2.0"}`, 401, `{"error":"invalid_token"}`, "")
	f.Fuzz(func(t *testing.T, path, authz, body string, status int, respBody, location string) {
		if status < 100 || status > 999 {
			status = 500
		}
		rec := trace.New(trace.Config{Size: 8, Issuer: "http://localhost:8080"})
		h := rec.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			rec.Note(r, trace.Note{Token: trace.Fingerprint(authz)})
			if location != "" {
				w.Header().Set("Location", location)
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+location+`"`)
			w.WriteHeader(status)
			_, _ = w.Write([]byte(respBody))
		}))
		req, err := http.NewRequest(http.MethodPost, "http://localhost:8080/", strings.NewReader(body))
		if err != nil {
			return
		}
		req.URL.Path = "/" + strings.TrimLeft(path, "/")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", authz)
		req.RemoteAddr = "127.0.0.1:1"
		h.ServeHTTP(httptest.NewRecorder(), req)
		rec.Tick()
		tok := strings.TrimSpace(strings.TrimPrefix(authz, "Bearer "))
		if len(tok) < 16 || strings.Contains(path+body+respBody+location, tok) {
			return // the token is only secret when it appears nowhere else
		}
		for _, e := range rec.Events(trace.Filter{}) {
			if strings.Contains(e.Reason+e.Hint+e.Step+e.Route+e.ClientID+e.User+e.Host, tok) {
				t.Fatalf("event holds the bearer token: %+v", e)
			}
		}
	})
}
