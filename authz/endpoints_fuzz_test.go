package authz_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/storage/sqlite"
	"github.com/tenantless/tenantless/web"
)

// fuzzServer is an authorization server on a SQLite file with one public
// client, for fuzzing whole endpoints in-process.
func fuzzServer(f *testing.F) (http.Handler, string) {
	f.Helper()
	st, err := sqlite.Open(f.Context(), sqlite.Config{Path: filepath.Join(f.TempDir(), "fuzz.db")})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	tmpl, err := web.New()
	if err != nil {
		f.Fatal(err)
	}
	srv, err := authz.New(f.Context(), authz.Config{
		Store: st, Templates: tmpl, Issuer: "http://localhost:8080",
		Resources: []string{"http://localhost:8080/mcp"}, Scopes: []authz.Scope{{Name: "weather:read"}},
		RateLimits: authz.RateLimits{Off: true},
	})
	if err != nil {
		f.Fatal(err)
	}
	// A registered resource besides the built-in one, so that resource and
	// scope resolution across resources is fuzzed too.
	if _, err := srv.AddResource(f.Context(), authz.NewResource{URL: "http://127.0.0.1:9000/mcp", Scopes: []string{"notes:read"}}); err != nil {
		f.Fatal(err)
	}
	h, err := authz.NewSecretHasher(f.Context(), st)
	if err != nil {
		f.Fatal(err)
	}
	c, _, err := authz.NewStaticClient(f.Context(), h, authz.StaticClient{RedirectURIs: []string{"http://127.0.0.1/cb"}}, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	if err := st.CreateClient(f.Context(), c); err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux)
	return mux, c.ID
}

// FuzzAuthorizeQuery sends arbitrary query strings to /authorize: the
// answer is never a server error, and never a redirect to anything but
// the registered loopback redirect URI.
func FuzzAuthorizeQuery(f *testing.F) {
	h, id := fuzzServer(f)
	f.Add("response_type=code&client_id=" + id + "&redirect_uri=http://127.0.0.1:9/cb&state=12345678&code_challenge=" + strings.Repeat("A", 43) + "&code_challenge_method=S256")
	f.Add("client_id=" + id + "&redirect_uri=https://evil.example/&response_type=code")
	f.Add("client_id=" + id + "&client_id=x&scope=%zz")
	f.Add("resource=http://localhost:8080/mcp&resource=x&prompt=none&client_id=" + id)
	f.Add("response_type=code&client_id=" + id + "&redirect_uri=http://127.0.0.1:9/cb&state=12345678&resource=http://127.0.0.1:9000/mcp&scope=notes:read+weather:read&code_challenge=" + strings.Repeat("A", 43) + "&code_challenge_method=S256")
	f.Add("response_type=code&client_id=" + id + "&redirect_uri=http://127.0.0.1:9/cb&state=12345678&resource=HTTP://127.0.0.1:9000/mcp&resource=http://localhost:8080/mcp&code_challenge=" + strings.Repeat("A", 43) + "&code_challenge_method=S256")
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "http://localhost:8080/authorize", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q", rec.Code, query)
		}
		if loc := rec.Header().Get("Location"); loc != "" && !strings.HasPrefix(loc, "http://127.0.0.1") && !strings.HasPrefix(loc, "/") {
			t.Fatalf("redirect to %q for %q", loc, query)
		}
	})
}

// FuzzTokenForm posts arbitrary bodies to /token: never a server error.
func FuzzTokenForm(f *testing.F) {
	h, id := fuzzServer(f)
	f.Add("grant_type=authorization_code&code=x&code_verifier=y&client_id="+id, "application/x-www-form-urlencoded")
	f.Add("grant_type=refresh_token&refresh_token=ory_rt_x.y&client_id="+id, "application/x-www-form-urlencoded")
	f.Add("grant_type=refresh_token&grant_type=x", "application/x-www-form-urlencoded")
	f.Add(`{"grant_type":"x"}`, "application/json")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		req := httptest.NewRequest(http.MethodPost, "http://localhost:8080/token", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q (%s): %s", rec.Code, body, contentType, rec.Body)
		}
	})
}
