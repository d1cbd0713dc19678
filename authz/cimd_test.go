package authz_test

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/authz/cimd"
	"github.com/tenantless/tenantless/e2e/browser"
)

// docServer serves client metadata documents over TLS on 127.0.0.1 and
// counts the fetches.
type docServer struct {
	ts      *httptest.Server
	docs    map[string]string // path → body ("" = 404)
	header  http.Header       // sent with every document
	fetches atomic.Int64
}

func newDocServer(t *testing.T) *docServer {
	d := &docServer{docs: map[string]string{}}
	d.ts = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.fetches.Add(1)
		body, ok := d.docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		for k, v := range d.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(d.ts.Close)
	return d
}

func (d *docServer) url(path string) string { return d.ts.URL + path }

// withCIMD gives the harness a resolver that trusts the document server
// (its CA, and its loopback address exempted from the SSRF guard).
func withCIMD(d *docServer) harnessOption {
	return func(c *authz.Config) {
		pool := x509.NewCertPool()
		pool.AddCert(d.ts.Certificate())
		c.CIMD = cimd.New(cimd.Config{AllowHosts: []string{strings.TrimPrefix(d.ts.URL, "https://")}, RootCAs: pool})
	}
}

// TestCIMDClients completes flows for VS Code's and Claude Code's
// document shapes, served locally.
func TestCIMDClients(t *testing.T) {
	d := newDocServer(t)
	h := newHarness(t, withCIMD(d))
	vscode := d.url("/oauth/client-metadata.json")
	claude := d.url("/oauth/claude-code-client-metadata")
	d.docs["/oauth/client-metadata.json"] = `{"client_id":"` + vscode + `","client_name":"Visual Studio Code",
	 "redirect_uris":["http://127.0.0.1:33418/","https://vscode.dev/redirect"],
	 "grant_types":["authorization_code","refresh_token","urn:ietf:params:oauth:grant-type:device_code"],
	 "response_types":["code"],"token_endpoint_auth_method":"none","application_type":"native",
	 "client_uri":"https://code.visualstudio.com"}`
	d.docs["/oauth/claude-code-client-metadata"] = `{"client_id":"` + claude + `","client_name":"Claude Code",
	 "redirect_uris":["http://localhost/callback","http://127.0.0.1/callback"],
	 "grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}`
	if !h.srv.Metadata().ClientIDMetadataDocumentSupported {
		t.Fatal("metadata does not advertise client_id_metadata_document_supported")
	}
	for _, tc := range []struct{ name, clientID, redirect string }{
		{"VS Code, random loopback port", vscode, "http://127.0.0.1:50712/"},
		{"VS Code, its fixed port", vscode, "http://127.0.0.1:33418/"},
		{"Claude Code, localhost any port", claude, "http://localhost:61234/callback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			q := url.Values{"response_type": {"code"}, "client_id": {tc.clientID}, "redirect_uri": {tc.redirect},
				"state": {"gXVXo0/iMD8WMolDHKxSTg=="}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
				"code_challenge_method": {"S256"}, "scope": {"weather:read"}, "resource": {h.resource}, "prompt": {"consent"}}
			b := browser.New(h.base)
			login, err := b.Get(h.base + "/authorize?" + q.Encode())
			if err != nil || login.Status != 200 {
				t.Fatalf("authorize: %v %d %.300s", err, login.Status, login.Body)
			}
			consent, err := b.Submit(login.URL, login.Forms[0], url.Values{"username": {testUser}, "password": {testPassword}})
			if err != nil {
				t.Fatal(err)
			}
			host := strings.TrimPrefix(d.ts.URL, "https://")
			if !strings.Contains(consent.Body, "Client ID document hosted at <strong>"+host+"</strong>") {
				t.Errorf("consent page does not show the document host %s", host)
			}
			done, err := b.Submit(consent.URL, consent.Forms[0], url.Values{"decision": {"allow"}})
			if err != nil {
				t.Fatal(err)
			}
			loc, err := done.Location()
			if err != nil {
				t.Fatal(err)
			}
			if loc.Query().Get("state") != "gXVXo0/iMD8WMolDHKxSTg==" || loc.Query().Get("iss") != h.base {
				t.Errorf("redirect %s: state or iss wrong", loc)
			}
			tok := h.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
				"code_verifier": {verifier}, "redirect_uri": {tc.redirect}, "client_id": {tc.clientID}, "resource": {h.resource}}, "", "")
			if tok.Status != 200 || tok.RefreshToken == "" {
				t.Fatalf("token: %d %+v", tok.Status, tok)
			}
			ref := h.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {tc.clientID}, "resource": {h.resource}}, "", "")
			if ref.Status != 200 {
				t.Errorf("refresh: %d %+v", ref.Status, ref)
			}
		})
	}
	// Documents are cached: three flows, two documents, two fetches.
	if got := d.fetches.Load(); got != 2 {
		t.Errorf("document fetches %d, want 2 (cached)", got)
	}
}

// TestCIMDRejects checks that a document that cannot be used yields an
// error page that says why, with no redirect and nothing stored.
func TestCIMDRejects(t *testing.T) {
	d := newDocServer(t)
	h := newHarness(t, withCIMD(d))
	mismatch := d.url("/mismatch.json")
	d.docs["/mismatch.json"] = `{"client_id":"https://elsewhere.example/doc.json","redirect_uris":["http://127.0.0.1/cb"]}`
	secret := d.url("/secret.json")
	d.docs["/secret.json"] = `{"client_id":"` + secret + `","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"client_secret_basic"}`
	tests := []struct{ name, clientID, want string }{
		{"not found", d.url("/missing.json"), "404"},
		{"client_id mismatch", mismatch, "elsewhere.example"},
		{"shared-secret auth", secret, "client_secret_basic"},
		{"loopback without exemption", "https://127.0.0.2:9/doc.json", "127.0.0.2"},
		{"private address", "https://10.0.0.1/doc.json", "10.0.0.1"},
		{"root path", "https://example.com/", "path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.snapshot()
			q := url.Values{"response_type": {"code"}, "client_id": {tc.clientID}, "redirect_uri": {"http://127.0.0.1:5000/cb"},
				"state": {"state-12345678"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
				"code_challenge_method": {"S256"}}
			p, err := browser.New(h.base).Get(h.base + "/authorize?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if p.Status != 400 || p.Header.Get("Location") != "" || !strings.Contains(p.Body, tc.want) {
				t.Errorf("got %d Location %q; want a 400 page mentioning %q:\n%.600s", p.Status, p.Header.Get("Location"), tc.want, p.Body)
			}
			h.unchanged(before)
		})
	}
}

// withCIMDClock is withCIMD with the resolver on the harness's clock, so
// h.advance moves document expiry and the refetch bound too.
func withCIMDClock(d *docServer) harnessOption {
	return func(c *authz.Config) {
		pool := x509.NewCertPool()
		pool.AddCert(d.ts.Certificate())
		c.CIMD = cimd.New(cimd.Config{AllowHosts: []string{strings.TrimPrefix(d.ts.URL, "https://")}, RootCAs: pool, Now: c.Now})
	}
}

// cimdSignIn runs one authorization code flow for a metadata-document
// client in a fresh browser, up to the tokens; it returns whether the
// consent page was shown.
func (h *harness) cimdSignIn(clientID, redirect string) (consentShown bool) {
	h.t.Helper()
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
		"state": {"state-12345678"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"}, "scope": {"weather:read"}, "resource": {h.resource}}
	loc, shown, err := browser.New(h.base).Authorize(h.base+"/authorize?"+q.Encode(), testUser, testPassword, "allow")
	if err != nil {
		h.t.Fatalf("sign-in with %s: %v", redirect, err)
	}
	tok := h.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"code_verifier": {verifier}, "redirect_uri": {redirect}, "client_id": {clientID}}, "", "")
	if tok.Status != 200 || tok.AccessToken == "" {
		h.t.Fatalf("token after sign-in with %s: %d %+v", redirect, tok.Status, tok)
	}
	return shown
}

// cimdAuthorizePage requests /authorize for a metadata-document client
// and returns the page, without signing in.
func (h *harness) cimdAuthorizePage(clientID, redirect string) *browser.Page {
	h.t.Helper()
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
		"state": {"state-12345678"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"}, "scope": {"weather:read"}, "resource": {h.resource}}
	p, err := browser.New(h.base).Get(h.base + "/authorize?" + q.Encode())
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func cimdDoc(id, name string, redirects ...string) string {
	return `{"client_id":"` + id + `","client_name":"` + name + `","redirect_uris":["` + strings.Join(redirects, `","`) +
		`"],"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none"}`
}

// TestCIMDDocumentChanges edits a cacheable metadata document between two
// sign-ins 30 seconds apart, as a client developer does: the second
// sign-in uses a redirect URI only the new version lists, and succeeds
// at once, with the consent given the first time. A redirect URI that is
// still not listed gets a page naming what the document lists and when
// it was fetched, with no further fetch.
func TestCIMDDocumentChanges(t *testing.T) {
	d := newDocServer(t)
	h := newHarness(t, withCIMDClock(d))
	id := d.url("/dev/client.json")
	d.docs["/dev/client.json"] = cimdDoc(id, "Dev client v1", "http://127.0.0.1/callback")
	d.header = http.Header{"Cache-Control": {"max-age=600"}}

	if !h.cimdSignIn(id, "http://127.0.0.1:41000/callback") {
		t.Errorf("first sign-in: no consent page, want one")
	}
	if got := d.fetches.Load(); got != 1 {
		t.Errorf("fetches after the first sign-in: %d, want 1", got)
	}

	h.advance(30 * time.Second)
	d.docs["/dev/client.json"] = cimdDoc(id, "Dev client v2", "http://127.0.0.1/callback", "http://localhost/oauth/done")
	if h.cimdSignIn(id, "http://localhost:41001/oauth/done") {
		t.Errorf("second sign-in: consent page shown again, want the remembered consent")
	}
	if got := d.fetches.Load(); got != 2 {
		t.Errorf("fetches after the second sign-in: %d, want 2 (one fresh fetch for the new redirect URI)", got)
	}
	c, err := h.store.GetClient(t.Context(), id)
	if err != nil || c.Name != "Dev client v2" {
		t.Errorf("stored client after the change: %q %v, want Dev client v2", c.Name, err)
	}

	// Still not listed: refused with what the document lists, and no
	// fetch within the refetch interval.
	p := h.cimdAuthorizePage(id, "http://127.0.0.1:41002/elsewhere")
	for _, want := range []string{"Redirect URI not allowed", "http://127.0.0.1:41002/elsewhere", "http://localhost/oauth/done",
		"http://127.0.0.1/callback", "fetched at", id} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("refusal page lacks %q:\n%.1500s", want, p.Body)
		}
	}
	if p.Status != 400 || p.Header.Get("Location") != "" {
		t.Errorf("refusal: %d Location %q, want 400 and no redirect", p.Status, p.Header.Get("Location"))
	}
	if got := d.fetches.Load(); got != 2 {
		t.Errorf("fetches after an unlisted redirect URI within the refetch interval: %d, want 2", got)
	}
	// Later, an unlisted redirect URI fetches once more, then refuses.
	h.advance(cimd.DefaultRefetchInterval)
	for range 3 {
		if p := h.cimdAuthorizePage(id, "http://127.0.0.1:41002/elsewhere"); p.Status != 400 {
			t.Errorf("unlisted redirect URI: %d, want 400", p.Status)
		}
	}
	if got := d.fetches.Load(); got != 3 {
		t.Errorf("fetches after three more unlisted requests: %d, want 3 (one per refetch interval)", got)
	}
}

// TestCIMDNoStore serves a document with Cache-Control: no-store: each new
// authorization request fetches it again, while one authorization (the
// sign-in, consent and token steps) uses one copy.
func TestCIMDNoStore(t *testing.T) {
	d := newDocServer(t)
	h := newHarness(t, withCIMDClock(d))
	id := d.url("/nostore.json")
	d.docs["/nostore.json"] = cimdDoc(id, "No-store v1", "http://127.0.0.1/callback")
	d.header = http.Header{"Cache-Control": {"no-store"}}

	h.cimdSignIn(id, "http://127.0.0.1:41000/callback")
	if got := d.fetches.Load(); got != 1 {
		t.Errorf("fetches in one authorization (authorize, sign-in, consent, token): %d, want 1", got)
	}
	h.advance(5 * time.Second)
	d.docs["/nostore.json"] = cimdDoc(id, "No-store v2", "http://127.0.0.1/other")
	h.cimdSignIn(id, "http://127.0.0.1:41000/other")
	if got := d.fetches.Load(); got != 2 {
		t.Errorf("fetches after a second authorization: %d, want 2", got)
	}
	// The old redirect URI is gone from the document, and the copy is
	// fresh: refused at once.
	h.advance(5 * time.Second)
	if p := h.cimdAuthorizePage(id, "http://127.0.0.1:41000/callback"); p.Status != 400 || !strings.Contains(p.Body, "http://127.0.0.1/other") {
		t.Errorf("redirect URI the new document dropped: %d, want 400 naming the listed one:\n%.800s", p.Status, p.Body)
	}
	if got := d.fetches.Load(); got != 3 {
		t.Errorf("fetches after a third request: %d, want 3 (fetched again, then refused)", got)
	}
}

// TestCIMDConsentSurvivesSweep lets a metadata-document client's record
// expire and its tokens go, runs the sweep, and signs in again: the
// consent, which belongs to the client_id, is still remembered.
func TestCIMDConsentSurvivesSweep(t *testing.T) {
	d := newDocServer(t)
	h := newHarness(t, withCIMDClock(d))
	id := d.url("/sweep.json")
	d.docs["/sweep.json"] = cimdDoc(id, "Swept", "http://127.0.0.1/callback")
	if !h.cimdSignIn(id, "http://127.0.0.1:41000/callback") {
		t.Fatal("first sign-in: no consent page")
	}
	h.advance(40 * 24 * time.Hour) // past the record's expiry and the tokens'
	if _, err := h.store.GarbageCollect(t.Context(), time.Now().Add(40*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.GetConsent(t.Context(), mustUserID(t, h), id); err != nil {
		t.Fatalf("consent after the sweep: %v, want it kept", err)
	}
	if h.cimdSignIn(id, "http://127.0.0.1:41000/callback") {
		t.Errorf("sign-in after the sweep: consent page shown again, want the remembered consent")
	}
	if got := d.fetches.Load(); got != 2 {
		t.Errorf("fetches: %d, want 2 (the expired copy is fetched again)", got)
	}
}

func mustUserID(t *testing.T, h *harness) string {
	t.Helper()
	u, err := h.store.GetUserByUsername(t.Context(), testUser)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestCIMDFetchFailureUsesFreshCopy: when a document that is to be fetched
// again cannot be (its host is down), a stored copy that has not expired
// stands in; once it has expired, the sign-in stops with the fetch error.
func TestCIMDFetchFailureUsesFreshCopy(t *testing.T) {
	d := newDocServer(t)
	h := newHarness(t, withCIMDClock(d))
	id := d.url("/flaky.json")
	d.docs["/flaky.json"] = cimdDoc(id, "Flaky", "http://127.0.0.1/callback")
	d.header = http.Header{"Cache-Control": {"no-store"}}
	h.cimdSignIn(id, "http://127.0.0.1:41000/callback")

	delete(d.docs, "/flaky.json") // 404 from now on
	h.advance(time.Minute)
	h.cimdSignIn(id, "http://127.0.0.1:41000/callback")
	if got := d.fetches.Load(); got < 2 {
		t.Errorf("fetches: %d, want a second attempt", got)
	}
	h.advance(5 * time.Minute) // past the stored copy's expiry
	if p := h.cimdAuthorizePage(id, "http://127.0.0.1:41000/callback"); p.Status != 400 || !strings.Contains(p.Body, "404") {
		t.Errorf("expired copy, document gone: %d, want 400 naming the 404:\n%.600s", p.Status, p.Body)
	}
}
