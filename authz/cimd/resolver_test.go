package cimd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testServer is an httptest TLS server on 127.0.0.1 that counts requests.
type testServer struct {
	*httptest.Server
	hits atomic.Int64
}

// newTestServer starts a TLS server running h.
func newTestServer(t *testing.T, h http.HandlerFunc) *testServer {
	t.Helper()
	s := &testServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	// Refused handshakes are expected in some tests; keep them out of the output.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// hostPort is the server's "127.0.0.1:port".
func (s *testServer) hostPort() string { return s.Listener.Addr().String() }

// port is the server's port.
func (s *testServer) port() string {
	_, p, _ := net.SplitHostPort(s.hostPort())
	return p
}

// pool trusts the server's certificate (valid for 127.0.0.1, ::1 and
// example.com).
func (s *testServer) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.Certificate())
	return p
}

// config returns a Config that may fetch from s.
func (s *testServer) config() Config {
	return Config{AllowHosts: []string{s.hostPort()}, RootCAs: s.pool()}
}

// selfURL is the URL the request was made to, as a client_id.
func selfURL(r *http.Request) string { return "https://" + r.Host + r.URL.Path }

// docFor returns a valid document for id with extra members merged in.
func docFor(id string, extra map[string]any) []byte {
	m := map[string]any{
		"client_id":                  id,
		"client_name":                "Test Client",
		"redirect_uris":              []string{"http://127.0.0.1/callback"},
		"token_endpoint_auth_method": "none",
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// serveDoc answers every request with a valid document for the request URL
// and the given headers.
func serveDoc(header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(docFor(selfURL(r), nil))
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// wantKind fails the test unless err is an *Error of kind whose message
// contains every fragment.
func wantKind(t *testing.T, err error, kind Kind, fragments ...string) *Error {
	t.Helper()
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("got error %v, want an *Error of kind %v", err, kind)
	}
	if e.Kind != kind {
		t.Errorf("kind: got %v, want %v (%v)", e.Kind, kind, e)
	}
	for _, f := range fragments {
		if !strings.Contains(e.Error(), f) {
			t.Errorf("message: got %q, want it to contain %q", e.Error(), f)
		}
	}
	return e
}

func TestResolveFetches(t *testing.T) {
	var gotMethod, gotAccept string
	s := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		gotMethod, gotAccept = r.Method, r.Header.Get("Accept")
		serveDoc("Cache-Control", "max-age=3600")(w, r)
	})
	clk := newClock()
	cfg := s.config()
	cfg.Now = clk.Now
	r := New(cfg)
	id := s.URL + "/client.json"

	got, err := r.Resolve(t.Context(), id)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	want := Document{
		ClientID:                id,
		ClientName:              "Test Client",
		RedirectURIs:            []string{"http://127.0.0.1/callback"},
		GrantTypes:              []string{"authorization_code"},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: "none",
		Raw:                     docFor(id, nil),
		FetchedAt:               clk.Now(),
		ExpiresAt:               clk.Now().Add(time.Hour),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Resolve mismatch (-want +got):\n%s", diff)
	}
	if gotMethod != http.MethodGet || gotAccept != "application/json" {
		t.Errorf("request: got %s with Accept %q, want GET with Accept %q", gotMethod, gotAccept, "application/json")
	}
}

func TestResolveSizeLimit(t *testing.T) {
	// pad returns a valid document of exactly n bytes for the request URL.
	pad := func(r *http.Request, n int) []byte {
		base := docFor(selfURL(r), map[string]any{"x": ""})
		return docFor(selfURL(r), map[string]any{"x": strings.Repeat("a", n-len(base))})
	}
	tests := []struct {
		name    string
		size    int
		chunked bool
		ok      bool
	}{
		{"exactly the limit", 5120, false, true},
		{"one byte over", 5121, false, false},
		{"one byte over, chunked", 5121, true, false},
		{"far over, chunked", 1 << 20, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
				body := pad(r, tt.size)
				if len(body) != tt.size {
					panic(fmt.Sprintf("padded to %d bytes, want %d", len(body), tt.size))
				}
				if tt.chunked {
					w.Write(body[:10])
					w.(http.Flusher).Flush()
					body = body[10:]
				}
				w.Write(body)
			})
			_, err := New(s.config()).Resolve(t.Context(), s.URL+"/client.json")
			if tt.ok {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				return
			}
			wantKind(t, err, KindTooLarge, "is larger than 5120 bytes")
		})
	}
}

func TestResolveRejects(t *testing.T) {
	// withDoc serves the document for the request URL changed by extra.
	withDoc := func(extra map[string]any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.Write(docFor(selfURL(r), extra)) }
	}
	tests := []struct {
		name string
		h    http.HandlerFunc
		kind Kind
		want []string
	}{
		{"404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			KindStatus, []string{"answered 404 Not Found; it must answer 200"}},
		{"500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) },
			KindStatus, []string{"answered 500 Internal Server Error"}},
		{"204", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) },
			KindStatus, []string{"answered 204 No Content"}},
		{"302 redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://other.example/client.json", http.StatusFound)
		}, KindRedirect, []string{"answered 302 Found, redirecting to host other.example", "does not follow redirects"}},
		{"308 relative redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere.json", http.StatusPermanentRedirect)
		}, KindRedirect, []string{"answered 308 Permanent Redirect, redirecting to host 127.0.0.1:"}},
		{"304 without location", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(304) },
			KindRedirect, []string{"without a Location"}},
		{"html", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>login</html>"))
		}, KindNotJSON, []string{"is not a JSON object", `served as "text/html"`}},
		{"array", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("[" + string(docFor(selfURL(r), nil)) + "]"))
		}, KindNotJSON, []string{"it is a JSON array"}},
		{"client_id mismatch", withDoc(map[string]any{"client_id": "https://a.example/doc"}),
			KindMismatch, []string{`says client_id "https://a.example/doc" but was fetched from "https://127.0.0.1:`}},
		{"missing redirect_uris", withDoc(map[string]any{"redirect_uris": nil}),
			KindInvalidMetadata, []string{"redirect_uris is missing or empty"}},
		{"javascript redirect uri", withDoc(map[string]any{"redirect_uris": []string{"javascript:alert(1)"}}),
			KindInvalidMetadata, []string{`scheme "javascript" is not allowed`}},
		{"data redirect uri", withDoc(map[string]any{"redirect_uris": []string{"data:text/html,x"}}),
			KindInvalidMetadata, []string{`scheme "data" is not allowed`}},
		{"http redirect uri on public host", withDoc(map[string]any{"redirect_uris": []string{"http://evil.example/cb"}}),
			KindInvalidMetadata, []string{"http is allowed only for loopback"}},
		{"client_secret", withDoc(map[string]any{"client_secret": "hunter2"}),
			KindInvalidMetadata, []string{"contains client_secret"}},
		{"client_secret_basic", withDoc(map[string]any{"token_endpoint_auth_method": "client_secret_basic"}),
			KindInvalidMetadata, []string{"shared-secret method"}},
		{"private_key_jwt", withDoc(map[string]any{"token_endpoint_auth_method": "private_key_jwt"}),
			KindInvalidMetadata, []string{"private_key_jwt, which tenantless does not support"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, tt.h)
			r := New(s.config())
			id := s.URL + "/client.json"
			for i := 1; i <= 2; i++ {
				_, err := r.Resolve(t.Context(), id)
				e := wantKind(t, err, tt.kind, tt.want...)
				if e.ClientID != id {
					t.Errorf("ClientID: got %q, want %q", e.ClientID, id)
				}
				// One request per call: redirects are not followed and
				// failures are not cached.
				if got := s.hits.Load(); got != int64(i) {
					t.Errorf("after call %d: server saw %d requests, want %d", i, got, i)
				}
			}
		})
	}
}

// lookupTable returns a LookupIP that resolves names from m and fails the
// test for any other name.
func lookupTable(t *testing.T, m map[string][]string) func(context.Context, string) ([]netip.Addr, error) {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		addrs, ok := m[host]
		if !ok {
			t.Errorf("unexpected lookup of %q", host)
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		var out []netip.Addr
		for _, a := range addrs {
			out = append(out, netip.MustParseAddr(a))
		}
		return out, nil
	}
}

func TestResolveSSRF(t *testing.T) {
	s := newTestServer(t, serveDoc())
	port := s.port()
	lookup := map[string][]string{
		"evil.test":    {"10.0.0.1"},
		"mixed.test":   {"8.8.8.8", "10.0.0.1"},
		"meta.test":    {"169.254.169.254"},
		"v6.test":      {"::ffff:127.0.0.1"},
		"example.com":  {"127.0.0.1"},
		"nowhere.test": {},
	}
	tests := []struct {
		name       string
		allowHosts []string
		id         string
		kind       Kind
		want       []string
	}{
		{"loopback literal without AllowHosts", nil, "https://127.0.0.1:" + port + "/x",
			KindBlockedAddress, []string{"points at 127.0.0.1, a loopback address", "use --cimd-allow-host 127.0.0.1:" + port}},
		{"mapped loopback literal, only the v4 form allowed", []string{"127.0.0.1:" + port}, "https://[::ffff:127.0.0.1]:" + port + "/x",
			KindBlockedAddress, []string{"points at ::ffff:127.0.0.1, a loopback address", "--cimd-allow-host [::ffff:127.0.0.1]:" + port}},
		{"loopback on another port", []string{"127.0.0.1:1"}, "https://127.0.0.1:" + port + "/x",
			KindBlockedAddress, []string{"a loopback address"}},
		{"ipv6 loopback", nil, "https://[::1]:" + port + "/x",
			KindBlockedAddress, []string{"points at ::1, a loopback address"}},
		{"cloud metadata", nil, "https://169.254.169.254/latest/meta-data/iam",
			KindBlockedAddress, []string{"169.254.169.254, a link-local address", "--cimd-allow-host 169.254.169.254:443"}},
		{"mapped private", nil, "https://[::ffff:10.0.0.1]/x",
			KindBlockedAddress, []string{"a private address"}},
		{"zero address", nil, "https://0.0.0.0:" + port + "/x",
			KindBlockedAddress, []string{"an unspecified address"}},
		{"name resolving to private", nil, "https://evil.test/client.json",
			KindBlockedAddress, []string{"resolves to 10.0.0.1, a private address", "--cimd-allow-host evil.test:443"}},
		{"name resolving to public and private", nil, "https://mixed.test/client.json",
			KindBlockedAddress, []string{"resolves to 10.0.0.1, a private address"}},
		{"name resolving to metadata service", nil, "https://meta.test/client.json",
			KindBlockedAddress, []string{"169.254.169.254, a link-local address"}},
		{"name resolving to mapped loopback", nil, "https://v6.test/client.json",
			KindBlockedAddress, []string{"a loopback address"}},
		{"name resolving to loopback, only the literal allowed", []string{"127.0.0.1:" + port}, "https://example.com:" + port + "/client.json",
			KindBlockedAddress, []string{"resolves to 127.0.0.1, a loopback address", "--cimd-allow-host example.com:" + port}},
		{"name resolving to nothing", nil, "https://nowhere.test/client.json",
			KindNetwork, []string{"could not resolve host nowhere.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.hits.Load()
			r := New(Config{AllowHosts: tt.allowHosts, RootCAs: s.pool(), LookupIP: lookupTable(t, lookup)})
			_, err := r.Resolve(t.Context(), tt.id)
			wantKind(t, err, tt.kind, tt.want...)
			if got := s.hits.Load() - before; got != 0 {
				t.Errorf("server saw %d requests, want 0", got)
			}
		})
	}
}

func TestResolveAllowHosts(t *testing.T) {
	s := newTestServer(t, serveDoc())
	port := s.port()
	lookup := map[string][]string{"example.com": {"127.0.0.1"}}
	tests := []struct {
		name       string
		allowHosts []string
		id         string
	}{
		{"literal", []string{"127.0.0.1:" + port}, "https://127.0.0.1:" + port + "/client.json"},
		{"name", []string{"example.com:" + port}, "https://example.com:" + port + "/client.json"},
		{"name, entry in other case", []string{"EXAMPLE.com:" + port}, "https://Example.COM:" + port + "/client.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(Config{AllowHosts: tt.allowHosts, RootCAs: s.pool(), LookupIP: lookupTable(t, lookup)})
			got, err := r.Resolve(t.Context(), tt.id)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got.ClientID != tt.id {
				t.Errorf("ClientID: got %q, want %q", got.ClientID, tt.id)
			}
		})
	}
}

// otherCA returns a pool holding a freshly made CA certificate that signed
// nothing the test servers use.
func otherCA(t *testing.T) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "other test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AddCert(cert)
	return p
}

func TestResolveAllowHostsIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	s := &testServer{Server: httptest.NewUnstartedServer(serveDoc())}
	s.Listener.Close()
	s.Listener = ln
	s.StartTLS()
	t.Cleanup(s.Close)
	id := s.URL + "/client.json" // https://[::1]:port/client.json
	got, err := New(s.config()).Resolve(t.Context(), id)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if got.ClientID != id {
		t.Errorf("ClientID: got %q, want %q", got.ClientID, id)
	}
}

func TestResolveTLS(t *testing.T) {
	s := newTestServer(t, serveDoc())
	tests := []struct {
		name  string
		roots *x509.CertPool
		id    string
		want  string
	}{
		{"system roots only", nil, s.URL + "/client.json", "certificate"},
		{"roots of another CA", otherCA(t), s.URL + "/client.json", "certificate"},
		{"name not in certificate", s.pool(), "https://cimd.test:" + s.port() + "/client.json", "cimd.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(Config{
				AllowHosts: []string{s.hostPort(), "cimd.test:" + s.port()},
				RootCAs:    tt.roots,
				LookupIP:   lookupTable(t, map[string][]string{"cimd.test": {"127.0.0.1"}}),
			})
			_, err := r.Resolve(t.Context(), tt.id)
			wantKind(t, err, KindNetwork, "could not fetch", tt.want)
		})
	}
}

func TestResolveConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	r := New(Config{AllowHosts: []string{addr}})
	_, err = r.Resolve(t.Context(), "https://"+addr+"/client.json")
	wantKind(t, err, KindNetwork, "could not fetch the client metadata document at https://"+addr, "refused")
}

func TestResolveIgnoresProxy(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	s := newTestServer(t, serveDoc())
	if _, err := New(s.config()).Resolve(t.Context(), s.URL+"/client.json"); err != nil {
		t.Fatalf("Resolve with a proxy in the environment: %v", err)
	}
}

func TestResolveAllowDomains(t *testing.T) {
	tests := []struct {
		name string
		id   string
		kind Kind // KindBlockedAddress means the domain check passed
	}{
		{"listed domain", "https://vscode.dev/oauth/client-metadata.json", KindBlockedAddress},
		{"subdomain", "https://insiders.vscode.dev/x", KindBlockedAddress},
		{"upper case", "https://CLAUDE.ai/x", KindBlockedAddress},
		{"other domain", "https://evil.example/x", KindNotAllowed},
		{"suffix without dot", "https://evilvscode.dev/x", KindNotAllowed},
		{"listed domain as prefix", "https://vscode.dev.evil.example/x", KindNotAllowed},
		{"parent of listed domain", "https://dev/x", KindNotAllowed},
		{"ip literal", "https://10.0.0.1/x", KindNotAllowed},
	}
	lookups := map[string][]string{
		"vscode.dev":          {"10.9.9.9"},
		"insiders.vscode.dev": {"10.9.9.9"},
		"CLAUDE.ai":           {"10.9.9.9"},
		"claude.ai":           {"10.9.9.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(Config{AllowDomains: []string{"vscode.dev", ".Claude.AI."}, LookupIP: lookupTable(t, lookups)})
			_, err := r.Resolve(t.Context(), tt.id)
			wantKind(t, err, tt.kind)
			if tt.kind == KindNotAllowed {
				wantKind(t, err, tt.kind, "not in the allowed client domains (vscode.dev, claude.ai)")
			}
		})
	}

	t.Run("allowed host bypasses the domain list", func(t *testing.T) {
		s := newTestServer(t, serveDoc())
		cfg := s.config()
		cfg.AllowDomains = []string{"vscode.dev"}
		if _, err := New(cfg).Resolve(t.Context(), s.URL+"/client.json"); err != nil {
			t.Fatalf("Resolve: %v", err)
		}
	})
}

func TestResolveCache(t *testing.T) {
	tests := []struct {
		name    string
		header  []string
		wantTTL time.Duration
	}{
		{"max-age honoured", []string{"Cache-Control", "max-age=3600"}, time.Hour},
		{"max-age clamped up to MinTTL", []string{"Cache-Control", "max-age=1"}, 5 * time.Minute},
		{"max-age clamped down to MaxTTL", []string{"Cache-Control", "max-age=31536000"}, 24 * time.Hour},
		{"no headers kept for MinTTL", nil, 5 * time.Minute},
		{"expires honoured", []string{"Expires", "Sun, 01 Nov 2026 14:00:00 GMT", "Date", "Sun, 01 Nov 2026 12:00:00 GMT"}, 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, serveDoc(tt.header...))
			clk := newClock()
			cfg := s.config()
			cfg.Now = clk.Now
			r := New(cfg)
			id := s.URL + "/client.json"

			first, err := r.Resolve(t.Context(), id)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got := first.ExpiresAt.Sub(first.FetchedAt); got != tt.wantTTL {
				t.Errorf("ExpiresAt - FetchedAt: got %v, want %v", got, tt.wantTTL)
			}
			// Callers cannot change the cached copy.
			first.RedirectURIs[0] = "https://evil.example/cb"
			first.Raw[0] = 'X'

			clk.Advance(tt.wantTTL - time.Second)
			second, err := r.Resolve(t.Context(), id)
			if err != nil {
				t.Fatalf("second Resolve: %v", err)
			}
			if got := s.hits.Load(); got != 1 {
				t.Errorf("before expiry: server saw %d requests, want 1", got)
			}
			if second.RedirectURIs[0] != "http://127.0.0.1/callback" || second.Raw[0] != '{' {
				t.Errorf("cached document was changed through a returned copy: %q, %q", second.RedirectURIs, second.Raw)
			}

			clk.Advance(time.Second)
			third, err := r.Resolve(t.Context(), id)
			if err != nil {
				t.Fatalf("third Resolve: %v", err)
			}
			if got := s.hits.Load(); got != 2 {
				t.Errorf("at expiry: server saw %d requests, want 2", got)
			}
			if !third.FetchedAt.Equal(clk.Now()) {
				t.Errorf("refetched FetchedAt: got %v, want %v", third.FetchedAt, clk.Now())
			}
		})
	}
}

// TestResolveRevalidate checks documents served with no-store, no-cache or
// max-age=0: each Resolve fetches them again (a client developer's edit
// takes effect at the next sign-in), except within RefetchInterval of the
// last fetch, and their copy still expires MinTTL after it was fetched
// (one authorization under way keeps it).
func TestResolveRevalidate(t *testing.T) {
	for _, header := range [][]string{
		{"Cache-Control", "no-store"},
		{"Cache-Control", "no-cache"},
		{"Cache-Control", "max-age=0"},
		{"Cache-Control", "public, s-maxage=0, max-age=600"},
	} {
		t.Run(header[1], func(t *testing.T) {
			s := newTestServer(t, serveDoc(header...))
			clk := newClock()
			cfg := s.config()
			cfg.Now = clk.Now
			r := New(cfg)
			id := s.URL + "/client.json"
			first, err := r.Resolve(t.Context(), id)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if !first.Revalidate || first.ExpiresAt.Sub(first.FetchedAt) < 5*time.Minute {
				t.Errorf("Revalidate %v, ExpiresAt - FetchedAt %v; want true and at least MinTTL", first.Revalidate, first.ExpiresAt.Sub(first.FetchedAt))
			}
			if _, ok := r.Lookup(id); !ok {
				t.Errorf("Lookup right after the fetch: no copy, want the fresh one")
			}
			clk.Advance(DefaultRefetchInterval - time.Millisecond)
			if _, err := r.Resolve(t.Context(), id); err != nil || s.hits.Load() != 1 {
				t.Errorf("Resolve within RefetchInterval: %v, %d fetches; want the copy (1 fetch)", err, s.hits.Load())
			}
			clk.Advance(time.Millisecond)
			if _, ok := r.Lookup(id); ok {
				t.Errorf("Lookup after RefetchInterval: got a copy, want none (it must be fetched again)")
			}
			second, err := r.Resolve(t.Context(), id)
			if err != nil || s.hits.Load() != 2 || !second.FetchedAt.Equal(clk.Now()) {
				t.Errorf("Resolve after RefetchInterval: %v, %d fetches, fetched at %v; want a new fetch", err, s.hits.Load(), second.FetchedAt)
			}
		})
	}
}

// TestResolveRefresh checks Refresh: a cacheable copy is fetched again
// before it expires, but never twice within RefetchInterval.
func TestResolveRefresh(t *testing.T) {
	s := newTestServer(t, serveDoc("Cache-Control", "max-age=3600"))
	clk := newClock()
	cfg := s.config()
	cfg.Now = clk.Now
	cfg.RefetchInterval = 10 * time.Second
	r := New(cfg)
	id := s.URL + "/client.json"
	if _, err := r.Resolve(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if d, err := r.Refresh(t.Context(), id); err != nil || s.hits.Load() != 1 || d.Revalidate {
		t.Errorf("Refresh right after a fetch: %v, %d fetches; want the copy (1 fetch)", err, s.hits.Load())
	}
	clk.Advance(10 * time.Second)
	if _, err := r.Resolve(t.Context(), id); err != nil || s.hits.Load() != 1 {
		t.Errorf("Resolve of a cacheable copy: %v, %d fetches; want the copy", err, s.hits.Load())
	}
	d, err := r.Refresh(t.Context(), id)
	if err != nil || s.hits.Load() != 2 || !d.FetchedAt.Equal(clk.Now()) {
		t.Errorf("Refresh after RefetchInterval: %v, %d fetches; want a new fetch", err, s.hits.Load())
	}
	for range 5 {
		if _, err := r.Refresh(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.hits.Load(); got != 2 {
		t.Errorf("five more Refresh calls at once: %d fetches, want 2 (bounded per document)", got)
	}
}

func TestResolveCustomTTLBounds(t *testing.T) {
	s := newTestServer(t, serveDoc("Cache-Control", "max-age=3600"))
	cfg := s.config()
	cfg.MinTTL, cfg.MaxTTL = time.Minute, 10*time.Minute
	got, err := New(cfg).Resolve(t.Context(), s.URL+"/client.json")
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if ttl := got.ExpiresAt.Sub(got.FetchedAt); ttl != 10*time.Minute {
		t.Errorf("ExpiresAt - FetchedAt: got %v, want %v", ttl, 10*time.Minute)
	}
}

func TestResolveFailureNotCached(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	s := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		serveDoc()(w, r)
	})
	r := New(s.config())
	id := s.URL + "/client.json"
	_, err := r.Resolve(t.Context(), id)
	wantKind(t, err, KindStatus, "500")

	fail.Store(false)
	if _, err := r.Resolve(t.Context(), id); err != nil {
		t.Fatalf("Resolve after the server recovered: %v", err)
	}
	if got := s.hits.Load(); got != 2 {
		t.Errorf("server saw %d requests, want 2", got)
	}
}

func TestResolveEviction(t *testing.T) {
	s := newTestServer(t, serveDoc("Cache-Control", "max-age=3600"))
	cfg := s.config()
	cfg.MaxEntries = 2
	r := New(cfg)
	tests := []struct {
		path     string
		wantHits int64
	}{
		{"/a", 1},
		{"/b", 2},
		{"/a", 2}, // cached
		{"/c", 3}, // evicts /a, stored longest ago
		{"/b", 3}, // cached
		{"/a", 4}, // evicted, fetched again; evicts /b
		{"/c", 4}, // cached
	}
	for i, tt := range tests {
		if _, err := r.Resolve(t.Context(), s.URL+tt.path); err != nil {
			t.Fatalf("step %d, Resolve %s: %v", i, tt.path, err)
		}
		if got := s.hits.Load(); got != tt.wantHits {
			t.Errorf("step %d, after %s: server saw %d requests, want %d", i, tt.path, got, tt.wantHits)
		}
	}
}

func TestResolveSharesOneFetch(t *testing.T) {
	const callers = 8
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	s := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		serveDoc()(w, r)
	})
	t.Cleanup(unblock) // runs before s.Close, so the handler can return
	r := New(s.config())
	joined := make(chan struct{}, callers)
	r.onJoin = func() { joined <- struct{}{} }
	id := s.URL + "/client.json"

	type result struct {
		doc Document
		err error
	}
	results := make(chan result, callers)
	for range callers {
		go func() {
			d, err := r.Resolve(t.Context(), id)
			results <- result{d, err}
		}()
	}
	// One caller leads the fetch (blocked in the handler); wait until every
	// other caller has joined it, then let the server answer.
	for range callers - 1 {
		<-joined
	}
	unblock()
	var first Document
	for i := range callers {
		res := <-results
		if res.err != nil {
			t.Fatalf("caller %d: %v", i, res.err)
		}
		if i == 0 {
			first = res.doc
		} else if diff := cmp.Diff(first, res.doc); diff != "" {
			t.Errorf("caller %d got a different document (-first +got):\n%s", i, diff)
		}
	}
	if got := s.hits.Load(); got != 1 {
		t.Errorf("server saw %d requests, want 1", got)
	}
}

func TestResolveTimeout(t *testing.T) {
	release := make(chan struct{})
	s := newTestServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	t.Cleanup(func() { close(release) })
	cfg := s.config()
	cfg.Timeout = 100 * time.Millisecond
	_, err := New(cfg).Resolve(t.Context(), s.URL+"/client.json")
	wantKind(t, err, KindTimeout, "did not answer within 100ms")
	if !errors.Is(err, &Error{Kind: KindTimeout}) {
		t.Errorf("errors.Is(err, &Error{Kind: KindTimeout}) = false, want true")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(err, context.DeadlineExceeded) = false, want true")
	}
}

func TestResolveCanceled(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	s := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		serveDoc()(w, r)
	})
	r := New(s.config())
	id := s.URL + "/client.json"
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := r.Resolve(ctx, id)
		errc <- err
	}()
	<-entered
	cancel()
	err := <-errc
	wantKind(t, err, KindCanceled, "stopped waiting for")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("errors.Is(err, context.Canceled) = false, want true")
	}

	// The fetch outlives the canceled caller and serves the next one.
	close(release)
	if _, err := r.Resolve(t.Context(), id); err != nil {
		t.Fatalf("Resolve after cancel: %v", err)
	}
	if got := s.hits.Load(); got != 1 {
		t.Errorf("server saw %d requests, want 1", got)
	}
}

func TestResolveBusy(t *testing.T) {
	s := newTestServer(t, serveDoc())
	cfg := s.config()
	cfg.MaxConcurrent = 2
	cfg.Timeout = 50 * time.Millisecond
	r := New(cfg)
	for range cap(r.slots) {
		r.slots <- struct{}{} // every slot taken by a fetch that never ends
	}
	_, err := r.Resolve(t.Context(), s.URL+"/client.json")
	wantKind(t, err, KindBusy, "busy fetching 2 other client metadata documents")
	if got := s.hits.Load(); got != 0 {
		t.Errorf("server saw %d requests, want 0", got)
	}
}

func TestResolveInvalidURL(t *testing.T) {
	r := New(Config{LookupIP: lookupTable(t, nil)})
	_, err := r.Resolve(t.Context(), "https://example.com/a/../b")
	wantKind(t, err, KindInvalidURL, ". or .. segments")
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // "" means valid
	}{
		{"zero", Config{}, ""},
		{"good lists", Config{AllowHosts: []string{"127.0.0.1:8443", "[::1]:8443", "localhost"}, AllowDomains: []string{"vscode.dev", ".claude.ai"}}, ""},
		{"negative timeout", Config{Timeout: -1}, "must not be negative"},
		{"min above max", Config{MinTTL: time.Hour, MaxTTL: time.Minute}, "MinTTL 1h0m0s is above MaxTTL 1m0s"},
		{"url as host", Config{AllowHosts: []string{"https://127.0.0.1:8443"}}, "must be HOST:PORT, not a URL"},
		{"bare ipv6", Config{AllowHosts: []string{"::1"}}, "must be HOST:PORT"},
		{"bad port", Config{AllowHosts: []string{"localhost:http"}}, "invalid port"},
		{"no host", Config{AllowHosts: []string{":8443"}}, "has no host"},
		{"empty domain", Config{AllowDomains: []string{"."}}, "must be a domain name"},
		{"domain with port", Config{AllowDomains: []string{"vscode.dev:443"}}, "must be a domain name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: got %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate: got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	r := New(Config{MinTTL: 48 * time.Hour, AllowHosts: []string{"LocalHost", "bad:port:x"}})
	type settings struct {
		Timeout        time.Duration
		MaxBytes       int64
		MinTTL, MaxTTL time.Duration
		Slots          int
		MaxEntries     int
		AllowHosts     map[string]bool
	}
	got := settings{r.timeout, r.maxBytes, r.minTTL, r.maxTTL, cap(r.slots), r.cache.max, r.allowHosts}
	want := settings{5 * time.Second, 5120, 48 * time.Hour, 48 * time.Hour, 8, 1024, map[string]bool{"localhost:443": true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("New defaults mismatch (-want +got):\n%s", diff)
	}
}

func TestKindOf(t *testing.T) {
	err := fmt.Errorf("lookup client: %w", &Error{Kind: KindMismatch, Msg: "m"})
	if got := KindOf(err); got != KindMismatch {
		t.Errorf("KindOf: got %v, want %v", got, KindMismatch)
	}
	if got := KindOf(errors.New("other")); got != 0 {
		t.Errorf("KindOf(other): got %v, want 0", got)
	}
	if got, want := KindMismatch.String(), "mismatch"; got != want {
		t.Errorf("String: got %q, want %q", got, want)
	}
	if errors.Is(err, &Error{Kind: KindTimeout}) {
		t.Errorf("errors.Is matched a different kind")
	}
}
