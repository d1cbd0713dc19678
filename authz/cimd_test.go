package authz_test

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

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
