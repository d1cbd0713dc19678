package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/e2e/browser"
)

// The recipe of the README: an MCP server written with the go-sdk that
// checks tenantless's access tokens itself, with auth.RequireBearerToken
// and a verifier backed by tenantless's JWKS.

// jwksVerifier verifies RFC 9068 access tokens against an issuer's JWKS:
// signature (with the key the "kid" names, whose "alg" must match the
// header), typ at+jwt, iss, aud (this server's resource URL) and exp. An
// unknown kid refetches the JWKS (at most once a second), which is how a
// key rotation reaches it without a restart.
type jwksVerifier struct {
	Issuer, JWKSURL, Audience string

	mu      sync.Mutex
	keys    jose.JSONWebKeySet
	fetched time.Time
}

func (v *jwksVerifier) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if k := v.keys.Key(kid); len(k) == 1 {
		return k[0], nil
	}
	if time.Since(v.fetched) < time.Second {
		return jose.JSONWebKey{}, errors.New("unknown signing key")
	}
	v.fetched = time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.JWKSURL, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	defer res.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		return jose.JSONWebKey{}, err
	}
	v.keys = set
	if k := v.keys.Key(kid); len(k) == 1 {
		return k[0], nil
	}
	return jose.JSONWebKey{}, errors.New("unknown signing key")
}

// Verify is an auth.TokenVerifier.
func (v *jwksVerifier) Verify(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
	tok, err := josejwt.ParseSigned(token)
	if err != nil || len(tok.Headers) != 1 {
		return nil, fmt.Errorf("%w: not a JWT", auth.ErrInvalidToken)
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders["typ"].(string); !strings.EqualFold(typ, "at+jwt") {
		return nil, fmt.Errorf("%w: not an access token (typ %q)", auth.ErrInvalidToken, typ)
	}
	key, err := v.key(ctx, h.KeyID)
	if err != nil || key.Algorithm != h.Algorithm {
		return nil, fmt.Errorf("%w: no key %q for %s", auth.ErrInvalidToken, h.KeyID, h.Algorithm)
	}
	var claims josejwt.Claims
	var extra struct {
		Scope string `json:"scope"`
	}
	if err := tok.Claims(key.Key, &claims, &extra); err != nil {
		return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
	}
	if err := claims.ValidateWithLeeway(josejwt.Expected{Issuer: v.Issuer, Audience: josejwt.Audience{v.Audience}, Time: time.Now()}, 30*time.Second); err != nil {
		return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
	}
	return &auth.TokenInfo{Scopes: strings.Fields(extra.Scope), Expiration: claims.Expiry.Time(), UserID: claims.Subject}, nil
}

// recipeServer is an external MCP server protected the go-sdk way.
type recipeServer struct {
	base, resource string
	scopes         []string
}

// startRecipeServer serves an MCP server with one tool, "whoami", that
// needs scope, trusting the issuer's tokens for its own URL only.
func startRecipeServer(t *testing.T, issuer, scope string) *recipeServer {
	t.Helper()
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	rs := &recipeServer{base: ts.URL, resource: ts.URL + "/mcp", scopes: []string{scope}}

	server := mcp.NewServer(&mcp.Implementation{Name: "recipe-" + scope, Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "who the token is for"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			ti := req.Extra.TokenInfo
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{
				Text: "sub=" + ti.UserID + " scope=" + strings.Join(ti.Scopes, " "),
			}}}, nil, nil
		})
	v := &jwksVerifier{Issuer: issuer, JWKSURL: issuer + "/jwks.json", Audience: rs.resource}
	prm := "/.well-known/oauth-protected-resource/mcp"
	mux.Handle(prm, auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:             rs.resource,
		AuthorizationServers: []string{issuer},
		ScopesSupported:      rs.scopes,
	}))
	mux.Handle("/mcp", auth.RequireBearerToken(v.Verify, &auth.RequireBearerTokenOptions{
		ResourceMetadataURL: ts.URL + prm,
		Scopes:              rs.scopes,
	})(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))
	return rs
}

// accepts reports the status of an MCP initialize with token.
func status(t *testing.T, endpoint, token string) int {
	t.Helper()
	return mcpPost(t, endpoint, token, "", initialize, nil).Status
}

// waitFor polls cond until it holds or 10 s pass (a resource added or
// deleted with the CLI reaches a running server within 2 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// supportsScope reports whether the AS metadata lists scope.
func supportsScope(t *testing.T, base, scope string) bool {
	var md struct {
		Scopes []string `json:"scopes_supported"`
	}
	getJSON(t, base+"/.well-known/oauth-authorization-server", &md)
	return slices.Contains(md.Scopes, scope)
}

// jwtClaims decodes a JWT's header and claims without verifying it.
func jwtClaims(t *testing.T, token string) (map[string]any, map[string]any) {
	t.Helper()
	tok, err := josejwt.ParseSigned(token)
	if err != nil {
		t.Fatalf("parse %q: %v", token, err)
	}
	var claims map[string]any
	if err := tok.UnsafeClaimsWithoutVerification(&claims); err != nil {
		t.Fatal(err)
	}
	h := map[string]any{"alg": tok.Headers[0].Algorithm, "kid": tok.Headers[0].KeyID}
	for k, v := range tok.Headers[0].ExtraHeaders {
		h[string(k)] = v
	}
	return h, claims
}

// TestRecipeGoSDK runs the go-sdk recipe with both signing algorithms:
// two external MCP servers and the built-in one with disjoint scopes; the
// go-sdk client starts from an external server's URL alone, discovers
// tenantless from its 401 and metadata, registers, signs in and consents
// through the real pages, and calls a tool; each server refuses the
// others' tokens; a minted token is accepted; a key rotation reaches the
// servers without a restart.
func TestRecipeGoSDK(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			ctx := t.Context()
			db := filepath.Join(t.TempDir(), "tenantless.db")
			srv := startServer(t, db, "--weather", "offline", "--signing-alg", alg)
			notes := startRecipeServer(t, srv.base, "notes:read")
			tasks := startRecipeServer(t, srv.base, "tasks:read")
			cli(t, "", "resource", "add", notes.resource, "--scopes", "notes:read", "--name", "Notes", "--db", db)
			cli(t, "", "resource", "add", tasks.resource, "--scopes", "tasks:read", "--name", "Tasks", "--db", db)
			waitFor(t, "the running server serves the added resources", func() bool { return supportsScope(t, srv.base, "tasks:read") })

			var jwks jose.JSONWebKeySet
			getJSON(t, srv.base+"/jwks.json", &jwks)
			if len(jwks.Keys) != 1 || jwks.Keys[0].Algorithm != alg || jwks.Keys[0].Use != "sig" || jwks.Keys[0].KeyID == "" {
				t.Fatalf("JWKS %+v, want one %s signing key with a kid", jwks.Keys, alg)
			}
			var md map[string]any
			getJSON(t, srv.base+"/.well-known/openid-configuration", &md)
			if got := fmt.Sprint(md["id_token_signing_alg_values_supported"]); got != "["+alg+"]" {
				t.Errorf("id_token_signing_alg_values_supported %s, want [%s]", got, alg)
			}

			h, consents := goSDKHandler(t, srv.base, true, "")
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "recipe-client", Version: "0"}, nil).
				Connect(ctx, &mcp.StreamableClientTransport{Endpoint: notes.resource, OAuthHandler: h}, nil)
			if err != nil {
				t.Fatalf("connect to %s: %v", notes.resource, err)
			}
			defer cs.Close()
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
			if err != nil || res.IsError {
				t.Fatalf("whoami: %v %v", err, res)
			}
			if text := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(text, "scope=notes:read") || !strings.Contains(text, "sub=user_") {
				t.Errorf("whoami said %q, want the admin's sub and scope notes:read", text)
			}
			if *consents != 1 {
				t.Errorf("consent pages %d, want 1", *consents)
			}
			src, err := h.TokenSource(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := src.Token()
			if err != nil {
				t.Fatal(err)
			}
			header, claims := jwtClaims(t, tok.AccessToken)
			if header["alg"] != alg || header["typ"] != "at+jwt" {
				t.Errorf("token header %v, want alg %s, typ at+jwt", header, alg)
			}
			if fmt.Sprint(claims["aud"]) != "["+notes.resource+"]" || claims["scope"] != "notes:read" ||
				claims["preferred_username"] != "admin" || claims["iss"] != srv.base {
				t.Errorf("token claims %v, want aud %s, scope notes:read, preferred_username admin, iss %s", claims, notes.resource, srv.base)
			}
			for _, c := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} {
				if claims[c] == nil {
					t.Errorf("RFC 9068 claim %s missing: %v", c, claims)
				}
			}

			// Each server checks its audience.
			if got := status(t, notes.resource, tok.AccessToken); got != 200 {
				t.Errorf("notes with its own token: %d, want 200", got)
			}
			if got := status(t, tasks.resource, tok.AccessToken); got != 401 {
				t.Errorf("tasks with a notes token: %d, want 401", got)
			}
			if got := status(t, srv.base+"/mcp", tok.AccessToken); got != 401 {
				t.Errorf("built-in weather server with a notes token: %d, want 401", got)
			}

			// A minted token, for tasks.
			minted := strings.TrimSpace(cli(t, "", "token", "--db", db, "--user", "admin", "--resource", tasks.resource))
			if got := status(t, tasks.resource, minted); got != 200 {
				t.Errorf("tasks with a token from tenantless token: %d, want 200", got)
			}
			if got := status(t, notes.resource, minted); got != 401 {
				t.Errorf("notes with a tasks token from tenantless token: %d, want 401", got)
			}
			weather := strings.TrimSpace(cli(t, "", "token", "--db", db, "--user", "admin", "--resource", srv.base+"/mcp", "--scope", "weather:read"))
			if got := status(t, srv.base+"/mcp", weather); got != 200 {
				t.Errorf("built-in server with a minted weather token: %d, want 200", got)
			}
			if got := status(t, tasks.resource, weather); got != 401 {
				t.Errorf("tasks with a weather token: %d, want 401", got)
			}
			// A minted token's grant is revoked like any other; the built-in
			// server, which checks grants, refuses it within 10 s.
			var grants []grantRow
			if err := json.Unmarshal([]byte(cli(t, "", "grant", "list", "--client", "tenantless-cli", "--json", "--db", db)), &grants); err != nil {
				t.Fatal(err)
			}
			for _, g := range grants {
				if g.Resource == srv.base+"/mcp" {
					cli(t, "", "grant", "revoke", g.GrantID, "--db", db)
				}
			}
			waitFor(t, "the built-in server refuses a revoked minted token", func() bool { return status(t, srv.base+"/mcp", weather) == 401 })

			// Key rotation: a token signed with the new key is accepted by
			// the running recipe server, which fetches the JWKS again.
			oldKID := header["kid"]
			cli(t, "", "keys", "rotate", "--db", db)
			rotated := strings.TrimSpace(cli(t, "", "token", "--db", db, "--user", "admin", "--resource", tasks.resource))
			rh, _ := jwtClaims(t, rotated)
			if rh["kid"] == oldKID || rh["alg"] != alg {
				t.Fatalf("token after rotation: kid %v alg %v, want a new %s key", rh["kid"], rh["alg"], alg)
			}
			waitFor(t, "the recipe server accepts a token of the rotated key", func() bool { return status(t, tasks.resource, rotated) == 200 })
			if got := status(t, notes.resource, tok.AccessToken); got != 200 {
				t.Errorf("notes with a token of the retired key: %d, want 200", got)
			}
		})
	}
}

// authorizeError sends an authorization request for a registered client
// without signing in and returns the error it redirects back with.
func authorizeError(t *testing.T, base, clientID string, q url.Values) (string, string) {
	t.Helper()
	v := oauth2.GenerateVerifier()
	q.Set("response_type", "code")
	q.Set("client_id", clientID)
	q.Set("redirect_uri", "http://127.0.0.1:41000/callback")
	q.Set("state", "state-123456")
	q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(v))
	q.Set("code_challenge_method", "S256")
	page, err := browser.New(base).Get(base + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	loc, err := page.Location()
	if err != nil {
		return "", ""
	}
	return loc.Query().Get("error"), loc.Query().Get("error_description")
}

// TestRegisteredResources covers the authorization server's side of
// registered resources: the errors of RFC 8707 and RFC 6749, consent
// remembered per resource, refresh keeping its audience, and deletion
// while the server runs, with and without --revoke.
func TestRegisteredResources(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, "--weather", "offline")
	const notes, tasks = "http://127.0.0.1:9/notes/mcp", "http://127.0.0.1:9/tasks/mcp"
	cli(t, "", "resource", "add", notes, "--scopes", "notes:read notes:write", "--name", "Notes", "--description", "Your notes",
		"--scope-description", "notes:read=Read your notes", "--db", db)
	cli(t, "", "resource", "add", tasks, "--scopes", "tasks:read", "--db", db)
	waitFor(t, "resources served", func() bool { return supportsScope(t, srv.base, "tasks:read") })
	c := addClient(t, db, "--name", "resource tests", "--redirect-uri", "http://127.0.0.1/callback")
	rs := addClient(t, db, "--name", "introspecting resource server", "--redirect-uri", "http://127.0.0.1/callback", "--confidential")

	for _, tc := range []struct {
		name      string
		q         url.Values
		wantError string
	}{
		{"unknown resource", url.Values{"resource": {"http://127.0.0.1:9/unknown/mcp"}, "scope": {"notes:read"}}, "invalid_target"},
		{"two resources", url.Values{"resource": {notes, tasks}, "scope": {"notes:read"}}, "invalid_target"},
		{"scope of another resource", url.Values{"resource": {notes}, "scope": {"tasks:read"}}, "invalid_scope"},
		{"scope of the built-in resource", url.Values{"resource": {notes}, "scope": {"notes:read weather:read"}}, "invalid_scope"},
		{"unknown scope", url.Values{"resource": {notes}, "scope": {"notes:delete"}}, "invalid_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, desc := authorizeError(t, srv.base, c.ClientID, tc.q); got != tc.wantError {
				t.Errorf("error %q (%s), want %q", got, desc, tc.wantError)
			}
		})
	}

	// Consent is remembered per user, client and resource.
	b := browser.New(srv.base)
	flow := func(resource, scope string) (tokenResponse, bool) {
		t.Helper()
		verifier := oauth2.GenerateVerifier()
		q := url.Values{
			"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {"http://127.0.0.1:41000/callback"},
			"state": {"resource-test-state"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
			"code_challenge_method": {"S256"}, "scope": {scope}, "resource": {resource},
		}
		first, err := b.Get(srv.base + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(first.Body, "Allow access?") && !strings.Contains(first.Body, "<code>"+resource+"</code>") {
			t.Errorf("consent page does not name the resource %s", resource)
		}
		if resource == notes && strings.Contains(first.Body, "Allow access?") &&
			(!strings.Contains(first.Body, `<span class="description">Read your notes</span>`) || !strings.Contains(first.Body, "Requested permissions for Notes")) {
			t.Errorf("consent page for notes lacks its name or the scope's description: %.2000s", first.Body)
		}
		loc, shown, err := b.Authorize(srv.base+"/authorize?"+q.Encode(), "admin", adminPassword, "allow")
		if err != nil {
			t.Fatal(err)
		}
		status, tok, _ := postForm(t, srv.base+"/token", url.Values{
			"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier},
			"redirect_uri": {"http://127.0.0.1:41000/callback"}, "client_id": {c.ClientID}, "resource": {resource},
		}, "", "")
		if status != 200 {
			t.Fatalf("token for %s: %d %+v", resource, status, tok)
		}
		return tok, shown
	}
	notesTok, shown := flow(notes, "notes:read")
	if !shown {
		t.Error("no consent page for the first grant for notes")
	}
	page, err := b.Get(srv.base + "/authorize?" + url.Values{"response_type": {"code"}, "client_id": {c.ClientID},
		"redirect_uri": {"http://127.0.0.1:41000/callback"}, "state": {"s-12345678"}, "scope": {"tasks:read"}, "resource": {tasks},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.Body, "Allow access?") || !strings.Contains(page.Body, `<strong class="resource-name">Tasks</strong>`) && !strings.Contains(page.Body, "<code>"+tasks+"</code>") {
		t.Errorf("consent page for tasks does not ask again or does not name it: %.600s", page.Body)
	}
	if _, shown := flow(notes, "notes:read"); shown {
		t.Error("consent page shown again for a remembered notes grant")
	}
	if _, shown := flow(tasks, "tasks:read"); !shown {
		t.Error("no consent page for tasks after consenting to notes only")
	}
	_, claims := jwtClaims(t, notesTok.AccessToken)
	if fmt.Sprint(claims["aud"]) != "["+notes+"]" || claims["scope"] != "notes:read" {
		t.Errorf("notes token claims %v", claims)
	}

	// Refresh keeps the audience; a refresh for another resource is refused.
	refresh := func(tok, resource string) (int, tokenResponse) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}, "client_id": {c.ClientID}}
		if resource != "" {
			form.Set("resource", resource)
		}
		st, r, _ := postForm(t, srv.base+"/token", form, "", "")
		return st, r
	}
	if st, r := refresh(notesTok.RefreshToken, tasks); st != 400 || r.Error != "invalid_target" {
		t.Errorf("refresh for another resource: %d %q, want 400 invalid_target", st, r.Error)
	}
	st, refreshed := refresh(notesTok.RefreshToken, "")
	if st != 200 {
		t.Fatalf("refresh: %d %+v", st, refreshed)
	}
	if _, claims := jwtClaims(t, refreshed.AccessToken); fmt.Sprint(claims["aud"]) != "["+notes+"]" {
		t.Errorf("refreshed token aud %v, want [%s]", claims["aud"], notes)
	}

	// Delete tasks while the server runs: no new token, by code or by
	// refresh; its live access token stays valid (no --revoke).
	tasksTok, _ := flow(tasks, "tasks:read")
	var grants []grantRow
	if err := json.Unmarshal([]byte(cli(t, "", "grant", "list", "--json", "--db", db)), &grants); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, g := range grants {
		seen[g.Resource] = strings.Join(g.Scopes, " ")
	}
	if seen[notes] != "notes:read" || seen[tasks] != "tasks:read" {
		t.Errorf("grant list: scopes by resource %v, want notes:read for notes and tasks:read for tasks", seen)
	}
	cli(t, "", "resource", "delete", tasks, "--db", db)
	waitFor(t, "a deleted resource is refused", func() bool {
		e, _ := authorizeError(t, srv.base, c.ClientID, url.Values{"resource": {tasks}, "scope": {"tasks:read"}})
		return e == "invalid_target"
	})
	if st, r := refresh(tasksTok.RefreshToken, ""); st != 400 {
		t.Errorf("refresh for a deleted resource: %d %q, want 400", st, r.Error)
	}
	if m := introspect(t, srv.base, tasksTok.AccessToken, rs.ClientID, rs.ClientSecret); m["active"] != true {
		t.Errorf("live token of a resource deleted without --revoke: introspection %v, want active", m)
	}
	if supportsScope(t, srv.base, "tasks:read") {
		t.Error("scopes_supported still lists a deleted resource's scope")
	}
	// Registered again under the same URL, it is consented to again.
	cli(t, "", "resource", "add", tasks, "--scopes", "tasks:read", "--db", db)
	waitFor(t, "tasks served again", func() bool { return supportsScope(t, srv.base, "tasks:read") })
	if _, shown := flow(tasks, "tasks:read"); !shown {
		t.Error("no consent page for a resource deleted and registered again")
	}
	if _, shown := flow(notes, "notes:read"); shown {
		t.Error("deleting tasks forgot the consent to notes")
	}

	// Delete notes with --revoke: its grants end (within 10 s of the CLI
	// change, the verification cache's bound).
	out := cli(t, "", "resource", "delete", notes, "--revoke", "--json", "--db", db)
	var del struct {
		Deleted string `json:"deleted"`
		Revoked int    `json:"revoked_grants"`
	}
	if err := json.Unmarshal([]byte(out), &del); err != nil || del.Deleted != notes || del.Revoked != 5 {
		// Three token grants, and the two codes a remembered consent
		// issued to flow's first look at the page, never redeemed.
		t.Errorf("delete --revoke --json printed %s, want notes and 5 grants", out)
	}
	waitFor(t, "a revoked resource's token is inactive", func() bool {
		return introspect(t, srv.base, refreshed.AccessToken, rs.ClientID, rs.ClientSecret)["active"] == false
	})
}

// TestRecipeClientSources connects to a recipe server with a client of
// each kind that can ask for a registered resource's scopes: a metadata
// document client whose document names the resource's scope, and a
// dynamically registered client that registers with it (as the TypeScript
// SDK does with the scopes it found in the server's metadata).
func TestRecipeClientSources(t *testing.T) {
	d := newDocHost(t)
	db := filepath.Join(t.TempDir(), "tenantless.db")
	srv := startServer(t, db, append([]string{"--weather", "offline"}, d.flags()...)...)
	notes := startRecipeServer(t, srv.base, "notes:read")
	cli(t, "", "resource", "add", notes.resource, "--scopes", "notes:read", "--db", db)
	waitFor(t, "resource served", func() bool { return supportsScope(t, srv.base, "notes:read") })
	const redirect = "http://127.0.0.1:43125/callback"
	docURL := d.ts.URL + "/notes-client.json"
	d.docs["/notes-client.json"] = `{"client_id":"` + docURL + `","client_name":"notes CIMD client","redirect_uris":["` + redirect +
		`"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"scope":"notes:read"}`

	for _, tc := range []struct {
		name string
		cfg  func(*auth.AuthorizationCodeHandlerConfig)
	}{
		{"metadata document", func(c *auth.AuthorizationCodeHandlerConfig) {
			c.ClientIDMetadataDocumentConfig = &auth.ClientIDMetadataDocumentConfig{URL: docURL}
		}},
		{"dynamic registration with the resource's scope", func(c *auth.AuthorizationCodeHandlerConfig) {
			c.DynamicClientRegistrationConfig = &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
				ClientName: "notes DCR client", RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: "none",
				GrantTypes: []string{"authorization_code", "refresh_token"}, Scope: "notes:read",
			}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := browser.New(srv.base)
			cfg := &auth.AuthorizationCodeHandlerConfig{
				RedirectURL: redirect,
				AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
					loc, _, err := b.Authorize(args.URL, "admin", adminPassword, "allow")
					if err != nil {
						return nil, err
					}
					q := loc.Query()
					return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
				},
			}
			tc.cfg(cfg)
			h, err := auth.NewAuthorizationCodeHandler(cfg)
			if err != nil {
				t.Fatal(err)
			}
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "0"}, nil).
				Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: notes.resource, OAuthHandler: h}, nil)
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer cs.Close()
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "whoami"})
			if err != nil || res.IsError {
				t.Fatalf("whoami: %v %v", err, res)
			}
		})
	}
}
