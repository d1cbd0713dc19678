package authz_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/e2e/browser"
	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/storage/sqlite"
	"github.com/tenantless/tenantless/web"
)

const (
	testUser     = "alice"
	testPassword = "alice-password-1"
)

// harness is an authorization server on a loopback port with a SQLite
// file, one user, a public and a confidential client.
type harness struct {
	t        *testing.T
	base     string
	resource string
	db       string
	store    *sqlite.Store
	srv      *authz.Server
	public   storage.Client
	conf     storage.Client
	secret   string
	// offset moves the server's clock (Config.Now) forward.
	offset atomic.Int64
}

// advance moves the server's clock forward by d.
func (h *harness) advance(d time.Duration) { h.offset.Add(int64(d)) }

// harnessOption changes the server configuration of a harness.
type harnessOption func(*authz.Config)

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	ctx := t.Context()
	h := &harness{t: t, db: filepath.Join(t.TempDir(), "authz.db")}
	st, err := sqlite.Open(ctx, sqlite.Config{Path: h.db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h.store = st

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.base = "http://" + ln.Addr().String()
	h.resource = h.base + "/mcp"
	tmpl, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cfg := authz.Config{
		Store:     st,
		Templates: tmpl,
		Issuer:    h.base,
		Resources: []string{h.resource, h.base + "/mcp/stream"},
		Scopes:    []authz.Scope{{Name: "weather:read", Description: "Read forecasts"}, {Name: "weather:alerts", Description: "Read alerts"}},
		// A frozen clock that only h.advance moves, so rate limits and
		// expiry never depend on how fast a loaded machine runs a test.
		Now: func() time.Time { return start.Add(time.Duration(h.offset.Load())) },
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.srv, err = authz.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.srv.Mount(mux)
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	ts.Start()
	t.Cleanup(ts.Close)

	u, err := authz.NewUser(testUser, testPassword, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	hasher, err := authz.NewSecretHasher(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	h.public = h.addClient(hasher, authz.StaticClient{Name: "Public", RedirectURIs: []string{"http://127.0.0.1/callback", "http://localhost/cb"}})
	h.conf, h.secret = h.addConfidential(hasher)
	return h
}

func (h *harness) addClient(hasher *authz.SecretHasher, c authz.StaticClient) storage.Client {
	h.t.Helper()
	rec, _, err := authz.NewStaticClient(h.t.Context(), hasher, c, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.store.CreateClient(h.t.Context(), rec); err != nil {
		h.t.Fatal(err)
	}
	return rec
}

func (h *harness) addConfidential(hasher *authz.SecretHasher) (storage.Client, string) {
	h.t.Helper()
	rec, secret, err := authz.NewStaticClient(h.t.Context(), hasher, authz.StaticClient{
		Name: "Confidential", RedirectURIs: []string{"https://app.example/cb"}, Confidential: true,
	}, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.store.CreateClient(h.t.Context(), rec); err != nil {
		h.t.Fatal(err)
	}
	return rec, secret
}

// authParams returns a valid authorization request for the public client.
func (h *harness) authParams(verifier string) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {h.public.ID},
		"redirect_uri":          {"http://127.0.0.1:40000/callback"},
		"scope":                 {"weather:read"},
		"state":                 {"0123456789abcdef"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
		"resource":              {h.resource},
	}
}

// code signs in, consents, and returns an authorization code.
func (h *harness) code(b *browser.Browser, params url.Values) string {
	h.t.Helper()
	loc, _, err := b.Authorize(h.base+"/authorize?"+params.Encode(), testUser, testPassword, "allow")
	if err != nil {
		h.t.Fatal(err)
	}
	c := loc.Query().Get("code")
	if c == "" {
		h.t.Fatalf("no code in %s", loc)
	}
	return c
}

type oauthResponse struct {
	Status           int
	Header           http.Header
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	Active           *bool  `json:"active"`
}

// post sends a form to an endpoint, with HTTP Basic when user is set.
func (h *harness) post(path string, form url.Values, user, pass string) oauthResponse {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	var r oauthResponse
	_ = json.NewDecoder(res.Body).Decode(&r)
	r.Status, r.Header = res.StatusCode, res.Header
	return r
}

// exchange redeems a code for the public client.
func (h *harness) exchange(code, verifier string, extra url.Values) oauthResponse {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"code_verifier": {verifier},
		"redirect_uri":  {"http://127.0.0.1:40000/callback"},
		"client_id":     {h.public.ID},
	}
	for k, v := range extra {
		form[k] = v
	}
	return h.post("/token", form, "", "")
}

func (h *harness) introspectActive(token string) bool {
	h.t.Helper()
	r := h.post("/introspect", url.Values{"token": {token}}, h.conf.ID, h.secret)
	if r.Status != 200 || r.Active == nil {
		h.t.Fatalf("introspect: status %d %+v", r.Status, r)
	}
	return *r.Active
}

// snapshot returns every row of every table, to prove a failed request
// changed nothing. The audit log and the sign-in failure buckets are left
// out: recording a refused request there is the point of them.
func (h *harness) snapshot() string {
	h.t.Helper()
	db, err := sql.Open("sqlite", "file:"+h.db+"?mode=ro")
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' AND name NOT IN ('audit_log', 'attempt_buckets') ORDER BY name`)
	if err != nil {
		h.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			h.t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, tbl := range tables {
		r, err := db.Query(`SELECT * FROM "` + tbl + `" ORDER BY 1`)
		if err != nil {
			h.t.Fatal(err)
		}
		cols, _ := r.Columns()
		for r.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := r.Scan(ptrs...); err != nil {
				h.t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %v\n", tbl, vals)
		}
		r.Close()
	}
	return b.String()
}

// unchanged fails the test if the database differs from before.
func (h *harness) unchanged(before string) {
	h.t.Helper()
	if after := h.snapshot(); after != before {
		h.t.Errorf("a rejected request changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
