package authz

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/ory/fosite"

	"github.com/tenantless/tenantless/authz/redirecturi"
	"github.com/tenantless/tenantless/storage"
)

// Grant types and auth methods this server supports.
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"

	authMethodNone  = "none"
	authMethodBasic = "client_secret_basic"
	authMethodPost  = "client_secret_post"
)

// secretKeyName is the name under which the key of the client-secret
// hash is kept in storage.
const secretKeyName = "client-secret-hmac"

// SecretHasher hashes client secrets and registration tokens with
// HMAC-SHA-256 under a key kept in the store. Client secrets are 256-bit
// random values, so a fast keyed hash is as strong as a slow password hash
// here and keeps the token endpoint cheap. It implements fosite.Hasher.
type SecretHasher struct {
	key []byte
}

var _ fosite.Hasher = (*SecretHasher)(nil)

// NewSecretHasher loads (creating it on first use) the hashing key from st.
func NewSecretHasher(ctx context.Context, st storage.Store) (*SecretHasher, error) {
	key, err := st.EnsureSecret(ctx, secretKeyName, randomBytes(32))
	if err != nil {
		return nil, fmt.Errorf("load client secret key: %w", err)
	}
	return &SecretHasher{key: key}, nil
}

// Hash returns the keyed hash of data.
func (h *SecretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	m := hmac.New(sha256.New, h.key)
	m.Write(data)
	return m.Sum(nil), nil
}

// Compare reports, in constant time, whether hash is the keyed hash of data.
func (h *SecretHasher) Compare(ctx context.Context, hash, data []byte) error {
	got, _ := h.Hash(ctx, data)
	if !hmac.Equal(got, hash) {
		return errors.New("secret mismatch")
	}
	return nil
}

// StaticClient describes a client an operator registers with the CLI.
type StaticClient struct {
	// Name is the client_name shown on the consent page.
	Name string
	// RedirectURIs must each be valid redirect URIs (see ValidateRedirectURI).
	RedirectURIs []string
	// Confidential clients get a secret and authenticate with
	// client_secret_basic (or client_secret_post); others are public.
	Confidential bool
}

// NewStaticClient validates c and returns the record to store and, for a
// confidential client, the plain secret to show the operator once.
func NewStaticClient(ctx context.Context, h *SecretHasher, c StaticClient, now time.Time) (storage.Client, string, error) {
	if len(c.RedirectURIs) == 0 {
		return storage.Client{}, "", errors.New("at least one redirect URI is required")
	}
	for _, u := range c.RedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			return storage.Client{}, "", fmt.Errorf("redirect URI %q: %w", u, err)
		}
	}
	rec := storage.Client{
		ID:                      "static_" + randomToken(12),
		Name:                    c.Name,
		RedirectURIs:            slices.Clone(c.RedirectURIs),
		GrantTypes:              []string{grantAuthorizationCode, grantRefreshToken},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: authMethodNone,
		Source:                  storage.SourceStatic,
		CreatedAt:               now.UTC().Truncate(time.Second),
		UpdatedAt:               now.UTC().Truncate(time.Second),
	}
	var secret string
	if c.Confidential {
		secret = randomToken(32)
		hash, err := h.Hash(ctx, []byte(secret))
		if err != nil {
			return storage.Client{}, "", err
		}
		rec.SecretHash = hash
		rec.TokenEndpointAuthMethod = authMethodBasic
	}
	return rec, secret, nil
}

// ValidateRedirectURI checks a redirect URI a client wants to register
// (see redirecturi.Validate).
func ValidateRedirectURI(raw string) error { return redirecturi.Validate(raw) }

func isLoopbackHost(host string) bool { return redirecturi.IsLoopbackHost(host) }

// fositeClient turns a stored client into what fosite needs. Every client
// may request the server's full scope set and audience (the resources).
func (s *Server) fositeClient(ctx context.Context, c storage.Client) fosite.Client {
	redirects := slices.Clone(c.RedirectURIs)
	if want := requestedRedirectURI(ctx); want != "" && !slices.Contains(redirects, want) {
		for _, reg := range c.RedirectURIs {
			if redirecturi.LoopbackMatch(reg, want) {
				redirects = append(redirects, want)
				break
			}
		}
	}
	grants := make([]string, 0, len(c.GrantTypes))
	for _, g := range c.GrantTypes {
		if g == grantAuthorizationCode || g == grantRefreshToken {
			grants = append(grants, g)
		}
	}
	method := c.TokenEndpointAuthMethod
	if method == "" {
		method = authMethodNone
	}
	return &fosite.DefaultOpenIDConnectClient{
		DefaultClient: &fosite.DefaultClient{
			ID:            c.ID,
			Secret:        c.SecretHash,
			RedirectURIs:  redirects,
			GrantTypes:    grants,
			ResponseTypes: []string{"code"},
			Scopes:        s.registry.scopeNames(),
			Audience:      s.registry.audiences(),
			Public:        len(c.SecretHash) == 0,
		},
		TokenEndpointAuthMethod: method,
	}
}

// requestedRedirectURI returns the redirect_uri of the authorization
// request fosite is parsing, which it puts in the context before it asks
// the store for the client.
func requestedRedirectURI(ctx context.Context) string {
	r, ok := ctx.Value(fosite.RequestContextKey).(*http.Request)
	if !ok || r.Form == nil || r.URL == nil || r.URL.Path != "/authorize" {
		return ""
	}
	return r.Form.Get("redirect_uri")
}

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}

// randomToken returns n random bytes, base64url-encoded without padding.
func randomToken(n int) string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(n))
}
