package authz

import (
	"github.com/tenantless/tenantless/storage"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tenantless/tenantless/authz/redirecturi"
)

// FuzzRedirectURI checks that redirect URI validation and loopback
// matching never panic, and that a match never crosses hosts, schemes,
// paths or queries.
func FuzzRedirectURI(f *testing.F) {
	for _, s := range [][2]string{
		{"http://localhost/callback", "http://localhost:5000/callback"},
		{"http://127.0.0.1:33418/", "http://127.0.0.1:1/"},
		{"http://[::1]/cb", "http://[::1]:9/cb"},
		{"https://app.example/cb", "https://app.example/cb#x"},
		{"com.example.app:/cb", "javascript:alert(1)"},
		{"http://localhost/cb?a=1", "http://localhost:1/cb?a=2"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, registered, requested string) {
		_ = ValidateRedirectURI(registered)
		_ = ValidateRedirectURI(requested)
		if !redirecturi.LoopbackMatch(registered, requested) {
			return
		}
		ru, err1 := url.Parse(registered)
		qu, err2 := url.Parse(requested)
		if err1 != nil || err2 != nil {
			t.Fatalf("matched unparsable URIs %q %q", registered, requested)
		}
		if ru.Scheme != "http" || ru.Hostname() != qu.Hostname() || ru.EscapedPath() != qu.EscapedPath() ||
			ru.RawQuery != qu.RawQuery || !isLoopbackHost(qu.Hostname()) || strings.Contains(requested, "#") {
			t.Fatalf("%q matched %q", requested, registered)
		}
	})
}

// FuzzPasswordHash feeds arbitrary encoded hashes to verification, which
// must never panic nor accept a malformed hash.
func FuzzPasswordHash(f *testing.F) {
	good, _ := HashPassword("correct horse")
	f.Add(good, "correct horse")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "x")
	f.Add("$argon2id$v=19$m=8,t=1,p=255$$", "")
	f.Fuzz(func(t *testing.T, encoded, password string) {
		if len(encoded) > 512 {
			return
		}
		if _, err := parseArgon2id(encoded); err != nil && VerifyPassword(encoded, password) {
			t.Fatalf("a malformed hash %q verified", encoded)
		}
	})
}

// FuzzResource checks resource canonicalisation: never a panic, and a
// canonical value is stable.
func FuzzResource(f *testing.F) {
	for _, s := range []string{"http://localhost:8080/mcp", "HTTP://LocalHost:8080/mcp", "/mcp", "https://x/#f", "http://u:p@h/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := canonicalResource(raw)
		if err != nil {
			return
		}
		c2, err := canonicalResource(c)
		if err != nil || c2 != c {
			t.Fatalf("canonical %q of %q is not stable: %q, %v", c, raw, c2, err)
		}
	})
}

// FuzzRegistrationBody feeds arbitrary JSON to registration parsing and
// validation: never a panic, and accepted metadata is always usable.
func FuzzRegistrationBody(f *testing.F) {
	f.Add(`{"redirect_uris":["http://localhost:6274/oauth/callback"],"token_endpoint_auth_method":"none","scope":""}`)
	f.Add(`{"redirect_uris":"x"}`)
	f.Add(`{"redirect_uris":["https://a/b"],"grant_types":["urn:ietf:params:oauth:grant-type:device_code","authorization_code"]}`)
	s := &Server{registry: &registry{builtin: &servedResource{rec: storage.Resource{URL: "http://localhost/mcp", Scopes: []string{"weather:read"}}}}}
	s.registry.set(nil)
	f.Fuzz(func(t *testing.T, body string) {
		md := &clientMetadata{}
		if parseMetadata([]byte(body), md) != nil {
			return
		}
		if s.normalizeMetadata(md) != nil {
			return
		}
		if len(md.RedirectURIs) == 0 || !slices.Contains(md.GrantTypes, grantAuthorizationCode) {
			t.Fatalf("accepted unusable metadata %+v", md)
		}
		for _, u := range md.RedirectURIs {
			if ValidateRedirectURI(u) != nil {
				t.Fatalf("accepted invalid redirect URI %q", u)
			}
		}
	})
}
