package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for localhost and 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLS serves https with --tls-cert/--tls-key: the issuer and every
// metadata URL use https, and the session cookie is Secure.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir)
	srv := startServer(t, filepath.Join(dir, "t.db"), "--weather", "offline", "--tls-cert", cert, "--tls-key", key)
	base := strings.Replace(srv.base, "http://", "https://", 1)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(base + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	res.Body.Close()
	if m["issuer"] != base || m["token_endpoint"] != base+"/token" {
		t.Errorf("metadata over TLS: issuer %v token_endpoint %v, want %s", m["issuer"], m["token_endpoint"], base)
	}
	res, err = client.Get(base + "/.well-known/oauth-protected-resource/mcp")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(res.Body).Decode(&m)
	res.Body.Close()
	if m["resource"] != base+"/mcp" {
		t.Errorf("resource %v, want %s/mcp", m["resource"], base)
	}
	// The sign-in cookies are Secure.
	c := addClient(t, filepath.Join(dir, "t.db"), "--redirect-uri", "http://127.0.0.1/callback")
	q := url.Values{"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {"http://127.0.0.1:5000/callback"},
		"state": {"tls-state-1234"}, "code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}
	res, err = client.Get(base + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || len(res.Cookies()) == 0 {
		t.Fatalf("login page over TLS: %d with %d cookies", res.StatusCode, len(res.Cookies()))
	}
	for _, c := range res.Cookies() {
		if !c.Secure || !c.HttpOnly {
			t.Errorf("cookie %s: Secure %v HttpOnly %v, want both", c.Name, c.Secure, c.HttpOnly)
		}
	}
	// Plain http to the TLS port is refused.
	if res, err := http.Get(srv.base + "/.well-known/oauth-authorization-server"); err == nil {
		if res.StatusCode == 200 {
			t.Error("plain http answered on the TLS listener")
		}
		res.Body.Close()
	}
}
