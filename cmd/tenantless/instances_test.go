package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/e2e/browser"
	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/storage/postgres"
	"github.com/tenantless/tenantless/storage/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, "cmd/tenantless") }

// startInstances runs n "tenantless serve" on one PostgreSQL database with
// one issuer, the first instance's URL, as behind a load balancer.
func startInstances(t *testing.T, db string, n int, extra ...string) []*server {
	t.Helper()
	port := freePort(t)
	issuer := "http://localhost:" + port
	var out []*server
	for i := range n {
		args := append([]string{"--issuer", issuer, "--weather", "offline"}, extra...)
		if i == 0 {
			args = append(args, "--addr", "127.0.0.1:"+port)
		}
		srv := startServer(t, db, args...)
		srv.issuer = issuer
		out = append(out, srv)
	}
	return out
}

// issuerHost is what a load balancer in front of the instances passes on
// as the Host of every request: the public name, here the first
// instance's. (The resource server checks a token's audience against the
// URL the client used.)
func issuerHost(srvs []*server) http.Header {
	return http.Header{"Host": {strings.TrimPrefix(srvs[0].base, "http://")}}
}

// accepts reports whether srv's MCP endpoint takes token (any answer but
// 401).
func accepts(t *testing.T, srv *server, token string) bool {
	t.Helper()
	h := http.Header{"Host": {strings.TrimPrefix(srv.issuer, "http://")}}
	return mcpPost(t, srv.base+"/mcp", token, "", initialize, h).Status != http.StatusUnauthorized
}

// seenByAll polls every instance until each gives the answer want for
// token, for at most the 1 s within which a change made on one instance
// must reach the others.
func seenByAll(t *testing.T, what string, srvs []*server, token string, want bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for i, srv := range srvs {
		for accepts(t, srv, token) != want {
			if time.Now().After(deadline) {
				t.Errorf("%s: instance %d still answers as before after 1 s", what, i)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// TestPostgresInstances runs three instances on one database and sends
// each step of a flow to a different one: sign-in and consent, the code
// exchange, an MCP session, refresh rotation and reuse detection,
// revocation, and the CLI's client deletion and key rotation, each seen by
// every instance within 1 s although every instance had the token cached.
func TestPostgresInstances(t *testing.T) {
	db := pgtest.URL(t)
	srvs := startInstances(t, db, 3, "--refresh-reuse-grace", "0") // strict: it checks reuse detection across instances
	issuer := srvs[0].base
	resource := issuer + "/mcp"
	c := addClient(t, db, "--name", "Hopping client", "--redirect-uri", "http://127.0.0.1/callback")

	// The sign-in page from instance 0, the sign-in posted to instance 1
	// (which checks instance 0's CSRF token and shows the consent page),
	// the consent posted to instance 2. The browser's cookies go to every
	// instance, as behind a load balancer.
	verifier := oauth2.GenerateVerifier()
	q := url.Values{
		"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {"http://127.0.0.1:41000/callback"},
		"state": {"instances-state-0123"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"}, "scope": {"weather:read"}, "resource": {resource},
	}
	b := browser.New(srvs[0].base)
	on := func(i int, u *url.URL) *url.URL {
		b.Origin = srvs[i].base
		v := *u
		v.Host = strings.TrimPrefix(srvs[i].base, "http://")
		return &v
	}
	page, err := b.Get(srvs[0].base + "/authorize?" + q.Encode())
	if err != nil || len(page.Forms) == 0 {
		t.Fatalf("authorize on instance 0: %v, %+v", err, page)
	}
	page, err = b.Submit(on(1, page.URL), page.Forms[0], url.Values{"username": {"admin"}, "password": {adminPassword}})
	if err != nil || page.Status != 200 || !strings.Contains(page.Body, "decision") {
		t.Fatalf("sign-in on instance 1: %v, status %d, want the consent page: %.300s", err, page.Status, page.Body)
	}
	var consent browser.Form
	for _, f := range page.Forms {
		if _, ok := f.Buttons["decision"]; ok {
			consent = f
		}
	}
	page, err = b.Submit(on(2, page.URL), consent, url.Values{"decision": {"allow"}})
	if err != nil || page.Status != 303 {
		t.Fatalf("consent on instance 2: %v, status %d: %.300s", err, page.Status, page.Body)
	}
	loc, err := page.Location()
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Query().Get("iss"); got != issuer || loc.Query().Get("code") == "" {
		t.Errorf("authorization response from instance 2: %v, want a code and the shared issuer %q", loc, issuer)
	}
	// Again on instance 1: the session and the consent the others stored
	// mean neither a sign-in form nor a consent page.
	b.Origin = srvs[1].base
	if _, consentShown, err := b.Authorize(srvs[1].base+"/authorize?"+q.Encode(), "", "", "allow"); err != nil || consentShown {
		t.Fatalf("authorize again on instance 1: consent %v, %v; want a redirect at once", consentShown, err)
	}

	// The code from instance 2, exchanged at instance 1.
	status, tok, _ := postForm(t, srvs[1].base+"/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier},
		"redirect_uri": {"http://127.0.0.1:41000/callback"}, "client_id": {c.ClientID}, "resource": {resource},
	}, "", "")
	if status != 200 || tok.RefreshToken == "" {
		t.Fatalf("code exchange on instance 1: %d %+v", status, tok)
	}
	// One MCP session across the three: initialize on 0, notify on 1,
	// call a tool on 2.
	init := mcpPost(t, srvs[0].base+"/mcp", tok.AccessToken, "", initialize, issuerHost(srvs))
	if init.Status != 200 {
		t.Fatalf("initialize on instance 0: %d %s", init.Status, init.Body)
	}
	if r := mcpPost(t, srvs[1].base+"/mcp", tok.AccessToken, init.Session, initialized, issuerHost(srvs)); r.Status != 202 {
		t.Errorf("initialized on instance 1: %d %s", r.Status, r.Body)
	}
	if r := mcpPost(t, srvs[2].base+"/mcp", tok.AccessToken, init.Session, callFcst, issuerHost(srvs)); r.Status != 200 || !strings.Contains(r.Body, "Forecast") {
		t.Errorf("tools/call on instance 2: %d %.300s", r.Status, r.Body)
	}
	seenByAll(t, "issued token", srvs, tok.AccessToken, true) // and now cached everywhere

	// The same code again, at instance 0: one-time across instances, and
	// the replay revokes what the code gave (RFC 6749 §4.1.2), everywhere.
	if status, _, _ := postForm(t, srvs[0].base+"/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier},
		"redirect_uri": {"http://127.0.0.1:41000/callback"}, "client_id": {c.ClientID}, "resource": {resource},
	}, "", ""); status != 400 {
		t.Errorf("code replayed on instance 0: got %d, want 400", status)
	}

	seenByAll(t, "grant revoked by the code's replay on instance 0", srvs, tok.AccessToken, false)

	// A new grant, by instance 2, cached everywhere.
	tok = tokenFor(t, srvs[2].base, c.ClientID, "admin", adminPassword, "weather:read", resource)
	seenByAll(t, "new grant", srvs, tok.AccessToken, true)

	// Refresh on instance 0 rotates: the old access token dies everywhere.
	status, rot, _ := postForm(t, srvs[0].base+"/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {c.ClientID},
	}, "", "")
	if status != 200 || rot.AccessToken == "" {
		t.Fatalf("refresh on instance 0: %d %+v", status, rot)
	}
	seenByAll(t, "access token rotated away on instance 0", srvs, tok.AccessToken, false)
	seenByAll(t, "new access token", srvs, rot.AccessToken, true)

	// The old refresh token again, at instance 1: reuse, which revokes
	// the grant, seen by all.
	if status, res, _ := postForm(t, srvs[1].base+"/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {c.ClientID},
	}, "", ""); status != 400 || res.Error != "invalid_grant" {
		t.Errorf("refresh token reused on instance 1: %d %+v, want 400 invalid_grant", status, res)
	}
	seenByAll(t, "grant revoked by reuse detection on instance 1", srvs, rot.AccessToken, false)
	if status, _, _ := postForm(t, srvs[2].base+"/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {rot.RefreshToken}, "client_id": {c.ClientID},
	}, "", ""); status != 400 {
		t.Errorf("the rotated refresh token on instance 2 after reuse: got %d, want 400", status)
	}

	// Revocation (RFC 7009) on instance 2.
	tok2 := tokenFor(t, srvs[1].base, c.ClientID, "admin", adminPassword, "weather:read", resource)
	seenByAll(t, "second grant", srvs, tok2.AccessToken, true)
	if status, _, _ := postForm(t, srvs[2].base+"/revoke", url.Values{
		"token": {tok2.RefreshToken}, "client_id": {c.ClientID},
	}, "", ""); status != 200 {
		t.Fatalf("revoke on instance 2: %d", status)
	}
	seenByAll(t, "grant revoked at /revoke of instance 2", srvs, tok2.AccessToken, false)

	// The CLI revokes a grant: every instance refuses its token.
	tok4 := tokenFor(t, srvs[2].base, c.ClientID, "admin", adminPassword, "weather:read", resource)
	seenByAll(t, "fourth grant", srvs, tok4.AccessToken, true)
	var grants []struct {
		GrantID string `json:"grant_id"`
	}
	if err := json.Unmarshal([]byte(cli(t, "", "grant", "list", "--db", db, "--client", c.ClientID, "--json")), &grants); err != nil || len(grants) != 1 {
		t.Fatalf("grant list --json: %v, %d grants, want 1", err, len(grants))
	}
	cli(t, "", "grant", "revoke", grants[0].GrantID, "--db", db)
	seenByAll(t, "grant revoked with the CLI", srvs, tok4.AccessToken, false)

	// The CLI deletes the client: no instance takes its tokens.
	tok3 := tokenFor(t, srvs[0].base, c.ClientID, "admin", adminPassword, "weather:read", resource)
	seenByAll(t, "third grant", srvs, tok3.AccessToken, true)
	cli(t, "", "client", "delete", c.ClientID, "--db", db)
	seenByAll(t, "client deleted with the CLI", srvs, tok3.AccessToken, false)
}

// TestPostgresInstancesKeyRotation rotates the signing key with the CLI:
// within 1 s every instance publishes the new key and signs with it, so
// that a token any instance issues verifies on every other.
func TestPostgresInstancesKeyRotation(t *testing.T) {
	db := pgtest.URL(t)
	srvs := startInstances(t, db, 3)
	resource := srvs[0].base + "/mcp"
	c := addClient(t, db, "--redirect-uri", "http://127.0.0.1/callback")
	before := tokenFor(t, srvs[0].base, c.ClientID, "admin", adminPassword, "weather:read", resource)
	var rotated struct {
		KID string `json:"kid"`
	}
	out := cli(t, "", "keys", "rotate", "--db", db, "--json")
	if err := json.Unmarshal([]byte(out), &rotated); err != nil || rotated.KID == "" {
		t.Fatalf("keys rotate --json printed %q: %v", out, err)
	}
	kid := rotated.KID
	deadline := time.Now().Add(time.Second)
	for i, srv := range srvs {
		for {
			var set struct {
				Keys []struct {
					KID string `json:"kid"`
				} `json:"keys"`
			}
			getJSON(t, srv.base+"/jwks.json", &set)
			if slices.ContainsFunc(set.Keys, func(k struct {
				KID string `json:"kid"`
			}) bool {
				return k.KID == kid
			}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("instance %d: JWKS %+v after 1 s, want the new key %q in it", i, set.Keys, kid)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for i, srv := range srvs {
		tok := tokenFor(t, srv.base, c.ClientID, "admin", adminPassword, "weather:read", resource)
		if got := jwtKID(t, tok.AccessToken); got != kid {
			t.Errorf("instance %d signs with %q after the rotation, want %q", i, got, kid)
		}
		seenByAll(t, "token of instance after the rotation", srvs, tok.AccessToken, true)
	}
	// Tokens signed before the rotation still verify everywhere.
	seenByAll(t, "token signed before the rotation", srvs, before.AccessToken, true)
}

// jwtKID returns the kid header of a JWT.
func jwtKID(t *testing.T, token string) string {
	t.Helper()
	p, err := josejwt.ParseSigned(token)
	if err != nil {
		t.Fatal(err)
	}
	return p.Headers[0].KeyID
}

// TestPostgresDatabaseDown takes the database away under a running
// instance: /readyz, the token endpoint and the MCP endpoint answer 503
// (never 500 or 401, and without hanging) while it is away, and work again
// once it is back, without a restart.
func TestPostgresDatabaseDown(t *testing.T) {
	proxy, db := pgtest.NewProxy(t, pgtest.URL(t))
	srv := startServer(t, db, "--weather", "offline")
	c := addClient(t, db, "--redirect-uri", "http://127.0.0.1/callback")
	tok := tokenFor(t, srv.base, c.ClientID, "admin", adminPassword, "weather:read", srv.base+"/mcp")
	status := func(path string) int {
		res, err := http.Get(srv.base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := status("/readyz"); got != 200 {
		t.Fatalf("/readyz with the database up: %d", got)
	}

	proxy.Down()
	// Until the watch notices, a cached verification may still answer;
	// poll for the outage to show.
	deadline := time.Now().Add(10 * time.Second)
	for mcpPost(t, srv.base+"/mcp", tok.AccessToken, "", initialize, nil).Status != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatalf("MCP with the database down: never 503")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := status("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database down: got %d, want 503", got)
	}
	code, res, hdr := postForm(t, srv.base+"/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {c.ClientID},
	}, "", "")
	if code != http.StatusServiceUnavailable || res.Error != "temporarily_unavailable" || hdr.Get("Retry-After") == "" {
		t.Errorf("refresh with the database down: got %d %+v (Retry-After %q), want 503 temporarily_unavailable with Retry-After",
			code, res, hdr.Get("Retry-After"))
	}
	if r := mcpPost(t, srv.base+"/mcp", tok.AccessToken, "", initialize, nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("MCP with the database down: got %d, want 503", r.Status)
	}

	proxy.Up()
	deadline = time.Now().Add(30 * time.Second)
	for status("/readyz") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("/readyz after the database came back: never 200")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The refresh that failed changed nothing: the same token refreshes now.
	code, res, _ = postForm(t, srv.base+"/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {c.ClientID},
	}, "", "")
	if code != 200 || res.AccessToken == "" {
		t.Fatalf("refresh after the database came back: %d %+v", code, res)
	}
	if r := mcpPost(t, srv.base+"/mcp", res.AccessToken, "", initialize, nil); r.Status != 200 {
		t.Errorf("MCP after the database came back: %d %s", r.Status, r.Body)
	}
}

// TestPostgresInstancesSignInLimit brute-forces one account across three
// instances: the 10 guesses a minute the account allows are shared, so
// the 11th attempt is refused (429) on every instance, even with the
// right password.
func TestPostgresInstancesSignInLimit(t *testing.T) {
	db := pgtest.URL(t)
	srvs := startInstances(t, db, 3)
	c := addClient(t, db, "--redirect-uri", "http://127.0.0.1/callback")
	q := url.Values{
		"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {"http://127.0.0.1:41000/callback"},
		"state": {"limit-state-0123456"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"}, "scope": {"weather:read"}, "resource": {srvs[0].base + "/mcp"},
	}
	b := browser.New(srvs[0].base)
	login, err := b.Get(srvs[0].base + "/authorize?" + q.Encode())
	if err != nil || len(login.Forms) == 0 {
		t.Fatalf("sign-in page: %v", err)
	}
	try := func(i int, pw string) int {
		b.Origin = srvs[i].base
		u := *login.URL
		u.Host = strings.TrimPrefix(srvs[i].base, "http://")
		p, err := b.Submit(&u, login.Forms[0], url.Values{"username": {"admin"}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		return p.Status
	}
	for i := range 10 {
		if got := try(i%3, "wrong-password"); got != http.StatusUnauthorized {
			t.Fatalf("guess %d on instance %d: status %d, want 401", i+1, i%3, got)
		}
	}
	for i := range srvs {
		if got := try(i, adminPassword); got != http.StatusTooManyRequests {
			t.Errorf("11th attempt, on instance %d: status %d, want 429", i, got)
		}
	}
}

// TestPostgresInstancesMaintenance checks that garbage collection runs on
// one instance at a time: while the test holds the maintenance lock, both
// instances skip their rounds and an expired token stays; once it lets
// go, one of them collects it.
func TestPostgresInstancesMaintenance(t *testing.T) {
	db := pgtest.URL(t)
	srvs := startInstances(t, db, 2, "--gc-interval", "50ms")
	st, err := postgres.Open(t.Context(), postgres.Config{URL: db})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	expired := storage.Token{Kind: storage.KindAccess, Signature: "expired-sig", RequestID: "req-expired", ClientID: "c",
		Subject: "u", RequestedAt: time.Now().Add(-2 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour), Active: true}
	hold := func(ctx context.Context) {
		if err := st.CreateToken(ctx, expired); err != nil {
			t.Fatal(err)
		}
		// Only what the instances log from now on counts.
		var from []int
		for _, srv := range srvs {
			from = append(from, len(srv.stderr.String()))
		}
		deadline := time.Now().Add(10 * time.Second)
		for i, srv := range srvs {
			for !strings.Contains(srv.stderr.String()[from[i]:], "maintenance is running on another instance; skipped") {
				if time.Now().After(deadline) {
					t.Fatalf("instance %d never skipped a maintenance round while another held it", i)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		if _, err := st.GetToken(ctx, storage.KindAccess, "expired-sig"); err != nil {
			t.Errorf("expired token while the test held the maintenance lock: %v, want it still there", err)
		}
	}
	// The instances run rounds every 50 ms: take the lock between two.
	for start := time.Now(); ; {
		ran, err := st.TryExclusive(t.Context(), "maintenance", hold)
		if err != nil {
			t.Fatal(err)
		}
		if ran {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the maintenance lock was never free for 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := st.GetToken(t.Context(), storage.KindAccess, "expired-sig")
		if errors.Is(err, storage.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired token 10 s after the lock was released: %v, want it collected", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
