package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/e2e/browser"
)

const adminPassword = "correct horse battery staple"

// syncBuffer is a bytes.Buffer safe for the server's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testEnv(vars map[string]string) env {
	return env{
		Stdin:  strings.NewReader(""),
		Stdout: &syncBuffer{},
		Stderr: &syncBuffer{},
		Getenv: func(k string) string { return vars[k] },
	}
}

// server is a running "tenantless serve".
type server struct {
	base   string
	issuer string // set by startInstances
	stderr *syncBuffer
	stop   func()
}

// startServer runs "tenantless serve" on a free loopback port with the
// database db, and stops it when the test ends.
func startServer(t *testing.T, db string, extra ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := testEnv(map[string]string{"TENANTLESS_ADMIN_PASSWORD": adminPassword})
	ready := make(chan string, 1)
	e.Ready = func(addr string) { ready <- addr }
	done := make(chan int, 1)
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--log-level", "debug"}, extra...)
	go func() { done <- run(ctx, args, e) }()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		cancel()
		t.Fatalf("serve exited with %d before it was ready: %s", code, e.Stderr.(*syncBuffer))
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not become ready")
	}
	_, port, _ := strings.Cut(addr, ":")
	s := &server{base: "http://localhost:" + port, stderr: e.Stderr.(*syncBuffer)}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve exited with %d: %s", code, s.stderr)
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// cli runs a non-serve command and returns its stdout.
func cli(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	e := testEnv(nil)
	e.Stdin = strings.NewReader(stdin)
	if code := run(t.Context(), args, e); code != 0 {
		t.Fatalf("tenantless %s: exit %d: %s", strings.Join(args, " "), code, e.Stderr.(*syncBuffer))
	}
	return e.Stdout.(*syncBuffer).String()
}

func addClient(t *testing.T, db string, args ...string) clientJSON {
	t.Helper()
	out := cli(t, "", append([]string{"client", "add", "--db", db, "--json"}, args...)...)
	var c clientJSON
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("client add --json printed %q: %v", out, err)
	}
	return c
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
}

// postForm posts to an endpoint and decodes the JSON answer.
func postForm(t *testing.T, u string, form url.Values, user, pass string) (int, tokenResponse, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tr tokenResponse
	_ = json.NewDecoder(res.Body).Decode(&tr)
	return res.StatusCode, tr, res.Header
}

func introspect(t *testing.T, base, token, clientID, secret string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("introspect: status %d", res.StatusCode)
	}
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// verifyJWT checks an access token against the server's JWKS the way a
// resource server would and returns its claims.
func verifyJWT(t *testing.T, base, token string) map[string]any {
	t.Helper()
	res, err := http.Get(base + "/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.ParseSigned(token)
	if err != nil {
		t.Fatalf("parse access token: %v", err)
	}
	h := tok.Headers[0]
	if h.Algorithm != "ES256" || h.ExtraHeaders["typ"] != "at+jwt" || h.KeyID == "" {
		t.Fatalf("JWT header alg=%q typ=%v kid=%q, want ES256, at+jwt and a kid", h.Algorithm, h.ExtraHeaders["typ"], h.KeyID)
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("JWKS has %d keys with kid %q, want 1", len(keys), h.KeyID)
	}
	var claims map[string]any
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("verify access token with JWKS: %v", err)
	}
	return claims
}

func TestEndToEnd(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--refresh-reuse-grace", "0") // step 3: reuse revokes at once
	base := srv.base
	resource := base + "/mcp"

	public := addClient(t, db, "--name", "E2E public", "--redirect-uri", "http://127.0.0.1/callback")
	conf := addClient(t, db, "--name", "E2E resource server", "--redirect-uri", "https://rs.example/cb", "--confidential")
	if conf.ClientSecret == "" || public.ClientSecret != "" {
		t.Fatalf("secrets: confidential %q, public %q; want one only for the confidential client", conf.ClientSecret, public.ClientSecret)
	}

	cfg := &oauth2.Config{
		ClientID:    public.ClientID,
		RedirectURL: "http://127.0.0.1:49152/callback", // any port: RFC 8252 §7.3
		Scopes:      []string{"weather:read"},
		Endpoint:    oauth2.Endpoint{AuthURL: base + "/authorize", TokenURL: base + "/token", AuthStyle: oauth2.AuthStyleInParams},
	}
	b := browser.New(base)
	ctx := t.Context()

	// 1. Sign in, consent, code + PKCE.
	verifier := oauth2.GenerateVerifier()
	state := "state-" + oauth2.GenerateVerifier()[:16]
	authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", resource))
	loc, consent, err := b.Authorize(authURL, "admin", adminPassword, "allow")
	if err != nil {
		t.Fatal(err)
	}
	if !consent {
		t.Error("first authorization of a new client skipped the consent page")
	}
	q := loc.Query()
	if got, want := loc.Scheme+"://"+loc.Host+loc.Path, cfg.RedirectURL; got != want {
		t.Fatalf("redirected to %s, want %s", got, want)
	}
	if q.Get("state") != state || q.Get("iss") != base || q.Get("code") == "" {
		t.Fatalf("authorization response %v: want code, state %q and iss %q", q, state, base)
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", resource))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for a client with the refresh_token grant")
	}

	// 2. The access token is an RFC 9068 JWT that verifies against the JWKS.
	claims := verifyJWT(t, base, tok.AccessToken)
	for _, k := range []string{"iss", "sub", "aud", "client_id", "scope", "jti", "iat", "exp"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("access token lacks claim %q: %v", k, claims)
		}
	}
	aud, _ := claims["aud"].([]any)
	if claims["iss"] != base || claims["client_id"] != public.ClientID || claims["scope"] != "weather:read" ||
		!slices.Contains(aud, any(resource)) {
		t.Errorf("claims %v: want iss %s, client_id %s, scope weather:read, aud [%s]", claims, base, public.ClientID, resource)
	}

	// 3. Refresh rotates; the old refresh token is then reuse and revokes the grant.
	status, refreshed, _ := postForm(t, base+"/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {public.ClientID},
	}, "", "")
	if status != 200 || refreshed.RefreshToken == "" || refreshed.RefreshToken == tok.RefreshToken || refreshed.AccessToken == "" {
		t.Fatalf("refresh: status %d, %+v", status, refreshed)
	}
	rc := verifyJWT(t, base, refreshed.AccessToken)
	if rc["jti"] == claims["jti"] || rc["iat"].(float64) < claims["iat"].(float64) {
		t.Errorf("refreshed token reuses jti/iat: old %v/%v new %v/%v", claims["jti"], claims["iat"], rc["jti"], rc["iat"])
	}
	if m := introspect(t, base, refreshed.AccessToken, conf.ClientID, conf.ClientSecret); m["active"] != true || m["client_id"] != public.ClientID {
		t.Errorf("introspect refreshed access token = %v, want active for %s", m, public.ClientID)
	}
	status, reuse, _ := postForm(t, base+"/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {public.ClientID},
	}, "", "")
	if status != 400 || reuse.Error != "invalid_grant" {
		t.Fatalf("reuse of a rotated refresh token: status %d error %q, want 400 invalid_grant", status, reuse.Error)
	}
	status, after, _ := postForm(t, base+"/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {refreshed.RefreshToken}, "client_id": {public.ClientID},
	}, "", "")
	if status != 400 || after.Error != "invalid_grant" {
		t.Errorf("newest refresh token after reuse: status %d error %q, want 400 invalid_grant (grant revoked)", status, after.Error)
	}
	if m := introspect(t, base, refreshed.AccessToken, conf.ClientID, conf.ClientSecret); m["active"] != false {
		t.Errorf("access token of a grant revoked by reuse: introspection %v, want inactive", m)
	}

	// 4. Consent is remembered: a second authorization needs no page.
	verifier = oauth2.GenerateVerifier()
	loc, consent, err = b.Authorize(cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), "admin", adminPassword, "allow")
	if err != nil {
		t.Fatal(err)
	}
	if consent {
		t.Error("remembered consent showed the consent page again")
	}
	tok2, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange without resource (defaults to %s): %v", resource, err)
	}
	if c := verifyJWT(t, base, tok2.AccessToken); !slices.Contains(c["aud"].([]any), any(resource)) {
		t.Errorf("default audience %v, want %s", c["aud"], resource)
	}

	// 5. Revocation of the refresh token revokes the grant's access token.
	status, _, _ = postForm(t, base+"/revoke", url.Values{"token": {tok2.RefreshToken}, "client_id": {public.ClientID}}, "", "")
	if status != 200 {
		t.Fatalf("revoke: status %d", status)
	}
	if m := introspect(t, base, tok2.AccessToken, conf.ClientID, conf.ClientSecret); m["active"] != false {
		t.Errorf("introspection after revocation = %v, want inactive", m)
	}

	// 6. Introspection needs client authentication.
	status, noAuth, hdr := postForm(t, base+"/introspect", url.Values{"token": {tok2.AccessToken}}, "", "")
	if status != 401 || noAuth.Error != "invalid_client" || hdr.Get("WWW-Authenticate") == "" {
		t.Errorf("unauthenticated introspection: status %d error %q, want 401 invalid_client with a challenge", status, noAuth.Error)
	}
	status, badAuth, _ := postForm(t, base+"/introspect", url.Values{"token": {tok2.AccessToken}}, conf.ClientID, "wrong")
	if status != 401 || badAuth.Error != "invalid_client" {
		t.Errorf("introspection with a wrong secret: status %d error %q, want 401 invalid_client", status, badAuth.Error)
	}
	if strings.Contains(srv.stderr.String(), tok.RefreshToken) || strings.Contains(srv.stderr.String(), conf.ClientSecret) {
		t.Error("server log contains a token or secret")
	}
}

// TestRestartKeepsState checks that users, clients, consents, signing keys
// and live refresh tokens survive a restart.
func TestRestartKeepsState(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db)
	c := addClient(t, db, "--name", "Restart", "--redirect-uri", "http://localhost/callback")
	cfg := &oauth2.Config{
		ClientID:    c.ClientID,
		RedirectURL: "http://localhost:50123/callback", // port-less registration, any port (Claude Code)
		Endpoint:    oauth2.Endpoint{AuthURL: srv.base + "/authorize", TokenURL: srv.base + "/token", AuthStyle: oauth2.AuthStyleInParams},
	}
	verifier := oauth2.GenerateVerifier()
	loc, _, err := browser.New(srv.base).Authorize(cfg.AuthCodeURL("restart-state", oauth2.S256ChallengeOption(verifier)), "admin", adminPassword, "allow")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cfg.Exchange(t.Context(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	kid := func(base, token string) string {
		p, err := josejwt.ParseSigned(token)
		if err != nil {
			t.Fatal(err)
		}
		verifyJWT(t, base, token)
		return p.Headers[0].KeyID
	}
	kid1 := kid(srv.base, tok.AccessToken)
	srv.stop()

	// Restart on the same port: the issuer and resource URLs, and so the
	// audience of the grant, stay the same.
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.base, "http://"), ":")
	srv2 := startServer(t, db, "--addr", "127.0.0.1:"+port)
	if strings.Contains(srv2.stderr.String(), "created user admin") {
		t.Error("restart created the admin user again")
	}
	cfg.Endpoint.TokenURL = srv2.base + "/token"
	cfg.Endpoint.AuthURL = srv2.base + "/authorize"
	status, refreshed, _ := postForm(t, srv2.base+"/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {c.ClientID},
	}, "", "")
	if status != 200 || refreshed.AccessToken == "" {
		t.Fatalf("refresh after restart: status %d %+v", status, refreshed)
	}
	if got := kid(srv2.base, refreshed.AccessToken); got != kid1 {
		t.Errorf("signing key after restart %q, want %q (persisted)", got, kid1)
	}
	// A new browser must sign in again (the cookie jar is new) but the
	// remembered consent still skips the consent page.
	verifier = oauth2.GenerateVerifier()
	_, consent, err := browser.New(srv2.base).Authorize(cfg.AuthCodeURL("restart-state2", oauth2.S256ChallengeOption(verifier)), "admin", adminPassword, "allow")
	if err != nil {
		t.Fatal(err)
	}
	if consent {
		t.Error("consent not remembered across a restart")
	}
	out := cli(t, "", "client", "list", "--db", db)
	if !strings.Contains(out, c.ClientID) {
		t.Errorf("client list after restart lacks %s:\n%s", c.ClientID, out)
	}
	if out := cli(t, "", "user", "list", "--db", db); !strings.Contains(out, "admin") {
		t.Errorf("user list after restart lacks admin:\n%s", out)
	}
}

// TestKeysRotateCLI rotates the signing key with the CLI while the server
// runs: new tokens are soon signed with the new key, without a restart.
func TestKeysRotateCLI(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	c := addClient(t, db, "--name", "keys", "--redirect-uri", "http://127.0.0.1/callback")
	tok := tokenFor(t, srv.base, c.ClientID, "admin", adminPassword, "weather:read", srv.base+"/mcp")
	var rotated struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal([]byte(cli(t, "", "keys", "rotate", "--db", db, "--json")), &rotated); err != nil || rotated.KID == "" {
		t.Fatalf("keys rotate --json: %v", err)
	}
	if out := cli(t, "", "keys", "list", "--db", db); !strings.Contains(out, rotated.KID) || !strings.Contains(out, "retired") {
		t.Errorf("keys list:\n%s", out)
	}
	deadline := time.Now().Add(20 * time.Second)
	refresh := tok.RefreshToken
	for {
		status, r, _ := postForm(t, srv.base+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {c.ClientID}}, "", "")
		if status != 200 {
			t.Fatalf("refresh: %d %+v", status, r)
		}
		refresh = r.RefreshToken
		p, err := josejwt.ParseSigned(r.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if p.Headers[0].KeyID == rotated.KID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tokens still signed with %s, not the rotated key %s", p.Headers[0].KeyID, rotated.KID)
		}
		time.Sleep(100 * time.Millisecond) // polling the server's periodic key reload
	}
	verifyJWT(t, srv.base, tok.AccessToken) // the old key is still published
}

// httpPostJSON posts a JSON body and decodes the JSON answer.
func httpPostJSON(u, body string) (map[string]any, error) {
	res, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var m map[string]any
	err = json.NewDecoder(res.Body).Decode(&m)
	return m, err
}
