package authz_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"
	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/storage/sqlite"
	"github.com/tenantless/tenantless/web"
)

// The benchmarks in this file drive the authorization server's real
// handler tree (authz.Server.Mount on an http.ServeMux) with ServeHTTP and
// httptest recorders, on a real SQLite file in b.TempDir(): no network, so
// they measure the server's own cost per request. cmd/tenantless has the
// same flows over loopback through the whole binary's handler stack, and
// cmd/tenantless-load drives a running server.

const (
	benchIssuer   = "http://localhost:8080"
	benchResource = benchIssuer + "/mcp"
	benchRedirect = "http://127.0.0.1:40000/callback"
	benchUsername = "bench"
	benchPassword = "bench-password-1"
)

// benchAS is an authorization server behind its ServeMux, with one user,
// a public client (authorization_code and refresh_token) and a
// confidential one.
type benchAS struct {
	db     string
	store  *sqlite.Store
	srv    *authz.Server
	mux    *http.ServeMux
	public storage.Client
	conf   storage.Client
	secret string
	// offset moves the server's clock forward (Config.Now).
	offset atomic.Int64
	// front, if set, is served instead of mux (a middleware around it).
	front http.Handler
}

func newBenchAS(tb testing.TB, opts ...func(*authz.Config)) *benchAS {
	tb.Helper()
	return newBenchASAt(tb, filepath.Join(tb.TempDir(), "bench.db"), opts...)
}

// newBenchASAt is newBenchAS on the database file db, which may exist.
func newBenchASAt(tb testing.TB, db string, opts ...func(*authz.Config)) *benchAS {
	tb.Helper()
	ctx := context.Background()
	h := &benchAS{db: db}
	st, err := sqlite.Open(ctx, sqlite.Config{Path: h.db})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	h.store = st
	tmpl, err := web.New()
	if err != nil {
		tb.Fatal(err)
	}
	cfg := authz.Config{
		Store:     st,
		Templates: tmpl,
		Issuer:    benchIssuer,
		Resources: []string{benchResource, benchIssuer + "/mcp/stream"},
		Scopes:    []authz.Scope{{Name: "weather:read", Description: "Read forecasts"}, {Name: "weather:alerts", Description: "Read alerts"}},
		Now:       func() time.Time { return time.Now().Add(time.Duration(h.offset.Load())) },
	}
	for _, o := range opts {
		o(&cfg)
	}
	if h.srv, err = authz.New(ctx, cfg); err != nil {
		tb.Fatal(err)
	}
	h.mux = http.NewServeMux()
	h.srv.Mount(h.mux)

	u, err := authz.NewUser(benchUsername, benchPassword, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.CreateUser(ctx, u); err != nil {
		tb.Fatal(err)
	}
	hasher, err := authz.NewSecretHasher(ctx, st)
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range []struct {
		rec    *storage.Client
		secret *string
		static authz.StaticClient
	}{
		{&h.public, nil, authz.StaticClient{Name: "Bench", RedirectURIs: []string{"http://127.0.0.1/callback"}}},
		{&h.conf, &h.secret, authz.StaticClient{Name: "Introspector", RedirectURIs: []string{"https://app.example/cb"}, Confidential: true}},
	} {
		rec, secret, err := authz.NewStaticClient(ctx, hasher, c.static, time.Now())
		if err != nil {
			tb.Fatal(err)
		}
		if err := st.CreateClient(ctx, rec); err != nil {
			tb.Fatal(err)
		}
		*c.rec = rec
		if c.secret != nil {
			*c.secret = secret
		}
	}
	return h
}

// serve answers req. Requests come from a loopback address, as those of
// local MCP clients do (and so the per-address rate limits exempt them).
func (h *benchAS) serve(req *http.Request) *httptest.ResponseRecorder {
	req.RemoteAddr = "127.0.0.1:40001"
	rec := httptest.NewRecorder()
	if h.front != nil {
		h.front.ServeHTTP(rec, req)
		return rec
	}
	h.mux.ServeHTTP(rec, req)
	return rec
}

// authorizeURL is an authorization request of the public client for
// weather:read at the MCP resource.
func (h *benchAS) authorizeURL(verifier string) string {
	return benchIssuer + "/authorize?" + url.Values{
		"response_type":         {"code"},
		"client_id":             {h.public.ID},
		"redirect_uri":          {benchRedirect},
		"scope":                 {"weather:read"},
		"state":                 {"0123456789abcdef"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
		"resource":              {benchResource},
	}.Encode()
}

var formInput = regexp.MustCompile(`<input type="(hidden|checkbox)" name="([^"]+)" value="([^"]*)"`)

// pageForm returns the hidden and ticked fields of a sign-in or consent page.
func pageForm(body string) url.Values {
	v := url.Values{}
	for _, m := range formInput.FindAllStringSubmatch(body, -1) {
		v.Add(html.UnescapeString(m[2]), html.UnescapeString(m[3]))
	}
	return v
}

// postPage submits a browser form to path with cookies, as a same-origin
// browser does.
func (h *benchAS) postPage(path string, form url.Values, cookies []*http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, benchIssuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", benchIssuer)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return h.serve(req)
}

// withCookies returns jar with the cookies rec set replacing those of the
// same name.
func withCookies(jar []*http.Cookie, rec *httptest.ResponseRecorder) []*http.Cookie {
	for _, c := range rec.Result().Cookies() {
		kept := jar[:0:0]
		for _, old := range jar {
			if old.Name != c.Name {
				kept = append(kept, old)
			}
		}
		jar = append(kept, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	return jar
}

// signIn runs an authorization request as a browser without cookies: the
// login page, then the password. It returns the browser's cookies (CSRF
// and session) and the page that followed the sign-in redirect: the
// consent page, or the redirect with a code when consent is remembered.
func (h *benchAS) signIn(verifier string) ([]*http.Cookie, *httptest.ResponseRecorder, error) {
	rec := h.serve(httptest.NewRequest(http.MethodGet, h.authorizeURL(verifier), nil))
	if rec.Code != http.StatusOK {
		return nil, nil, fmt.Errorf("authorize without a session: status %d", rec.Code)
	}
	jar := withCookies(nil, rec)
	form := pageForm(rec.Body.String())
	form.Set("username", benchUsername)
	form.Set("password", benchPassword)
	rec = h.postPage("/login", form, jar)
	if rec.Code != http.StatusSeeOther {
		return nil, nil, fmt.Errorf("login: status %d", rec.Code)
	}
	jar = withCookies(jar, rec)
	next := httptest.NewRequest(http.MethodGet, benchIssuer+rec.Header().Get("Location"), nil)
	for _, c := range jar {
		next.AddCookie(c)
	}
	return jar, h.serve(next), nil
}

// signInAndConsent signs the user in and allows the public client once,
// so that later authorization requests with the returned cookies answer
// with a code at once.
func (h *benchAS) signInAndConsent(tb testing.TB) []*http.Cookie {
	tb.Helper()
	jar, rec, err := h.signIn(oauth2.GenerateVerifier())
	if err != nil {
		tb.Fatal(err)
	}
	if rec.Code == http.StatusOK {
		form := pageForm(rec.Body.String())
		form.Set("decision", "allow")
		rec = h.postPage("/authorize", form, jar)
	}
	if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "code=") {
		tb.Fatalf("consent: status %d, Location %q", rec.Code, rec.Header().Get("Location"))
	}
	return jar
}

// code asks for an authorization code as a signed-in browser whose
// consent is remembered.
func (h *benchAS) code(jar []*http.Cookie, verifier string) (string, error) {
	req := httptest.NewRequest(http.MethodGet, h.authorizeURL(verifier), nil)
	for _, c := range jar {
		req.AddCookie(c)
	}
	return codeFrom(h.serve(req))
}

func codeFrom(rec *httptest.ResponseRecorder) (string, error) {
	if rec.Code != http.StatusSeeOther {
		return "", fmt.Errorf("authorize: status %d", rec.Code)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		return "", err
	}
	c := loc.Query().Get("code")
	if c == "" {
		return "", fmt.Errorf("authorize: no code in %s", loc)
	}
	return c, nil
}

type benchTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
}

// postToken sends a form to /token (or /introspect) and decodes the answer.
func (h *benchAS) postForm(path string, form url.Values, user, pass string) (benchTokens, error) {
	req := httptest.NewRequest(http.MethodPost, benchIssuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	rec := h.serve(req)
	var t benchTokens
	if err := json.Unmarshal(rec.Body.Bytes(), &t); err != nil {
		return t, fmt.Errorf("%s: status %d: %w", path, rec.Code, err)
	}
	if rec.Code != http.StatusOK {
		return t, fmt.Errorf("%s: status %d %s", path, rec.Code, t.Error)
	}
	return t, nil
}

func (h *benchAS) exchange(code, verifier string) (benchTokens, error) {
	return h.postForm("/token", url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"code_verifier": {verifier},
		"redirect_uri":  {benchRedirect},
		"client_id":     {h.public.ID},
		"resource":      {benchResource},
	}, "", "")
}

func (h *benchAS) refresh(rt string) (benchTokens, error) {
	return h.postForm("/token", url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {rt},
		"client_id":     {h.public.ID},
	}, "", "")
}

// flow is one signed-in authorization: /authorize answers with a code at
// once (session cookie, remembered consent), and /token redeems it.
func (h *benchAS) flow(jar []*http.Cookie) (benchTokens, error) {
	v := oauth2.GenerateVerifier()
	c, err := h.code(jar, v)
	if err != nil {
		return benchTokens{}, err
	}
	return h.exchange(c, v)
}

// BenchmarkVerifyAccessToken checks an access token as the MCP server's
// bearer middleware does. first-sight misses the verification cache (the
// server's clock moves past the recheck interval before every call):
// signature, claims and a token row read. repeat is answered from the cache.
func BenchmarkVerifyAccessToken(b *testing.B) {
	h := newBenchAS(b, func(c *authz.Config) { c.AccessTokenTTL = 365 * 24 * time.Hour })
	tok, err := h.flow(h.signInAndConsent(b))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("first-sight", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			h.offset.Add(int64(11 * time.Second))
			if _, err := h.srv.VerifyAccessToken(ctx, tok.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("repeat", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.srv.VerifyAccessToken(ctx, tok.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("repeat-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.srv.VerifyAccessToken(ctx, tok.AccessToken); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkSignAccessToken signs an RFC 9068 access token with ES256 the
// way the server does (fosite's signer, go-jose, a P-256 key), and
// verifies one.
func BenchmarkSignAccessToken(b *testing.B) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	key := &jose.JSONWebKey{Key: priv, KeyID: "bench", Algorithm: string(jose.ES256), Use: "sig"}
	signer := &jwt.DefaultSigner{GetPrivateKey: func(context.Context) (interface{}, error) { return key, nil }}
	claims := func() jwt.MapClaims {
		c := &jwt.JWTClaims{Subject: "user_0123456789abcdef", Extra: map[string]interface{}{"client_id": "dcr_0123456789abcdef0123"}}
		return c.With(time.Now().Add(time.Hour), []string{"weather:read"}, []string{benchResource}).
			WithDefaults(time.Now().UTC(), benchIssuer).
			WithScopeField(jwt.JWTScopeFieldString).ToMapClaims()
	}
	header := &jwt.Headers{Extra: map[string]interface{}{"typ": "at+jwt"}}
	ctx := context.Background()
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := signer.Generate(ctx, claims(), header); err != nil {
				b.Fatal(err)
			}
		}
	})
	tok, _, err := signer.Generate(ctx, claims(), header)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if _, err := signer.Validate(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAuthorize asks for a code as a signed-in user whose consent is
// remembered: session, client and consent reads, and a code and PKCE row
// written.
func BenchmarkAuthorize(b *testing.B) {
	h := newBenchAS(b)
	jar := h.signInAndConsent(b)
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := h.code(jar, oauth2.GenerateVerifier()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogin posts the sign-in form: an argon2id password check and a
// session written.
func BenchmarkLogin(b *testing.B) {
	h := newBenchAS(b)
	rec := h.serve(httptest.NewRequest(http.MethodGet, h.authorizeURL(oauth2.GenerateVerifier()), nil))
	jar := withCookies(nil, rec)
	form := pageForm(rec.Body.String())
	form.Set("username", benchUsername)
	form.Set("password", benchPassword)
	for b.Loop() {
		if rec := h.postPage("/login", form, jar); rec.Code != http.StatusSeeOther {
			b.Fatalf("login: status %d", rec.Code)
		}
	}
}

// BenchmarkToken measures the token endpoint for each grant:
// authorization_code with PKCE (codes issued before the timer starts) and
// refresh_token (each call rotates the token the previous one returned).
func BenchmarkToken(b *testing.B) {
	h := newBenchAS(b)
	jar := h.signInAndConsent(b)
	b.Run("authorization_code", func(b *testing.B) {
		codes, verifiers := make([]string, b.N), make([]string, b.N)
		for i := range b.N {
			verifiers[i] = oauth2.GenerateVerifier()
			c, err := h.code(jar, verifiers[i])
			if err != nil {
				b.Fatal(err)
			}
			codes[i] = c
		}
		b.ResetTimer()
		defer reportCPU(b)()
		for i := range b.N {
			if _, err := h.exchange(codes[i], verifiers[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("refresh_token", func(b *testing.B) {
		tok, err := h.flow(jar)
		if err != nil {
			b.Fatal(err)
		}
		rt := tok.RefreshToken
		defer reportCPU(b)()
		for b.Loop() {
			tok, err := h.refresh(rt)
			if err != nil {
				b.Fatal(err)
			}
			rt = tok.RefreshToken
		}
	})
	b.Run("refresh_token-parallel", func(b *testing.B) {
		defer reportCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			tok, err := h.flow(jar)
			if err != nil {
				b.Error(err)
				return
			}
			rt := tok.RefreshToken
			for pb.Next() {
				tok, err := h.refresh(rt)
				if err != nil {
					b.Error(err)
					return
				}
				rt = tok.RefreshToken
			}
		})
	})
}

// BenchmarkFlow is one whole authorization of a signed-in user with
// remembered consent: /authorize to code, /token to tokens. login adds
// the sign-in (login page, argon2id password check) to every flow.
func BenchmarkFlow(b *testing.B) {
	h := newBenchAS(b)
	jar := h.signInAndConsent(b)
	b.Run("signed-in", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := h.flow(jar); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("signed-in-parallel", func(b *testing.B) {
		defer reportCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.flow(jar); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("login", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			v := oauth2.GenerateVerifier()
			_, rec, err := h.signIn(v)
			if err != nil {
				b.Fatal(err)
			}
			c, err := codeFrom(rec)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := h.exchange(c, v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRegister registers a public client with RFC 7591 (the body the
// go-sdk client sends).
func BenchmarkRegister(b *testing.B) {
	h := newBenchAS(b)
	const body = `{"redirect_uris":["http://127.0.0.1:43123/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"client_name":"bench","application_type":"native"}`
	defer reportCPU(b)()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, benchIssuer+"/register", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if rec := h.serve(req); rec.Code != http.StatusCreated {
			b.Fatalf("register: status %d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkIntrospect introspects an access token as a confidential client
// authenticated with HTTP Basic (RFC 7662).
func BenchmarkIntrospect(b *testing.B) {
	h := newBenchAS(b)
	tok, err := h.flow(h.signInAndConsent(b))
	if err != nil {
		b.Fatal(err)
	}
	form := url.Values{"token": {tok.AccessToken}}
	defer reportCPU(b)()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, benchIssuer+"/introspect", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(h.conf.ID), url.QueryEscape(h.secret))
		rec := h.serve(req)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"active":true`) {
			b.Fatalf("introspect: status %d %s", rec.Code, rec.Body)
		}
	}
}

// cpuClock reads this process's CPU time (user and system, all threads)
// from /proc/self/stat, so that a benchmark can report CPU per operation
// next to ns/op: on a shared machine wall time depends on the neighbours,
// CPU time much less. ok is false where /proc is missing.
func cpuClock() (d time.Duration, ok bool) {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(stat[i+1:])) // fields 3 onwards; utime and stime are 14 and 15
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true // USER_HZ is 100
}

// reportCPU starts counting CPU time; the function it returns reports
// CPU milliseconds per operation ("cpu-ms/op") over b.N operations, when
// enough CPU time passed for the clock's 10 ms ticks to be precise.
func reportCPU(b *testing.B) func() {
	start, ok := cpuClock()
	return func() {
		if end, ok2 := cpuClock(); ok && ok2 && b.N > 0 && end-start >= 200*time.Millisecond {
			b.ReportMetric(float64(end-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		}
	}
}
