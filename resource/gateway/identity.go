package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tenantless/tenantless/resource"
)

// Identity headers, as Azure App Service's authentication sets them.
const (
	HeaderPrincipalName = "X-Ms-Client-Principal-Name"
	HeaderPrincipalID   = "X-Ms-Client-Principal-Id"
	HeaderPrincipalIDP  = "X-Ms-Client-Principal-Idp"
	HeaderPrincipal     = "X-Ms-Client-Principal"
	// HeaderIdentity carries the identity as a JWT signed by the
	// authorization server, verifiable with its /jwks.json.
	HeaderIdentity = "X-Tenantless-Identity"
)

// IDP is the identity provider name the upstream is told.
const IDP = "tenantless"

// Claim types of X-MS-CLIENT-PRINCIPAL.
const (
	ClaimName     = "name"
	ClaimSubject  = "sub"
	ClaimClientID = "client_id"
	ClaimScope    = "scp"
	ClaimRole     = "roles"
)

// identityTTL is the identity JWT's lifetime; one is reused while it has
// more than identityReuse left.
const (
	identityTTL   = 5 * time.Minute
	identityReuse = 4 * time.Minute
)

// Principal is X-MS-CLIENT-PRINCIPAL decoded: the shape App Service
// documents (auth_typ, claims of typ and val, name_typ, role_typ).
type Principal struct {
	AuthType string  `json:"auth_typ"`
	Claims   []Claim `json:"claims"`
	NameType string  `json:"name_typ"`
	RoleType string  `json:"role_typ"`
}

// Claim is one claim of a Principal.
type Claim struct {
	Type  string `json:"typ"`
	Value string `json:"val"`
}

// isIdentityHeader reports whether a header name is one the gateway
// sets, or of their families: a client must never choose them.
func isIdentityHeader(name string) bool {
	n := strings.ToLower(name)
	return strings.HasPrefix(n, "x-ms-client-principal") || strings.HasPrefix(n, "x-ms-token-") || strings.HasPrefix(n, "x-tenantless-")
}

// stripClientHeaders removes what a client must not pass upstream: its
// credentials and cookies, and any identity header it made up.
func stripClientHeaders(h http.Header) {
	h.Del("Authorization")
	h.Del("Cookie")
	h.Del("Proxy-Authorization")
	for name := range h {
		if isIdentityHeader(name) {
			delete(h, name)
		}
	}
}

// identities turns verified tokens into Identities, caching usernames
// and identity JWTs briefly so a busy session costs no lookups.
type identities struct {
	cfg   Config
	mu    sync.Mutex
	names map[string]cachedName
	jwts  map[string]cachedJWT
}

type cachedName struct {
	name string
	at   time.Time
}

type cachedJWT struct {
	jwt string
	exp time.Time
}

// nameTTL bounds how long a looked-up username is reused.
const nameTTL = time.Minute

func newIdentities(cfg Config) *identities {
	return &identities{cfg: cfg, names: map[string]cachedName{}, jwts: map[string]cachedJWT{}}
}

// identity is the Identity of a verified token.
func (ids *identities) identity(ctx context.Context, info resource.TokenInfo) Identity {
	return Identity{Subject: info.Subject, Name: ids.name(ctx, info.Subject), ClientID: info.ClientID, Scopes: info.Scopes}
}

func (ids *identities) name(ctx context.Context, sub string) string {
	if ids.cfg.Username == nil {
		return sub
	}
	now := ids.cfg.Now()
	ids.mu.Lock()
	c, ok := ids.names[sub]
	ids.mu.Unlock()
	if ok && now.Sub(c.at) < nameTTL {
		return c.name
	}
	name, err := ids.cfg.Username(ctx, sub)
	if err != nil || name == "" {
		return sub
	}
	ids.mu.Lock()
	if len(ids.names) > 10000 {
		clear(ids.names)
	}
	ids.names[sub] = cachedName{name: name, at: now}
	ids.mu.Unlock()
	return name
}

// principal is X-MS-CLIENT-PRINCIPAL's value for id.
func principal(id Identity) string {
	p := Principal{AuthType: IDP, NameType: ClaimName, RoleType: ClaimRole, Claims: []Claim{
		{ClaimSubject, id.Subject}, {ClaimName, id.Name}, {ClaimClientID, id.ClientID}, {ClaimScope, strings.Join(id.Scopes, " ")},
	}}
	b, _ := json.Marshal(p)
	return base64.StdEncoding.EncodeToString(b)
}

// jwt is the signed identity for audience aud, or "" when there is no
// signer or signing failed (logged).
func (ids *identities) jwt(ctx context.Context, id Identity, aud string) (string, error) {
	if ids.cfg.Sign == nil {
		return "", nil
	}
	now := ids.cfg.Now()
	key := id.Subject + "\x00" + id.ClientID + "\x00" + strings.Join(id.Scopes, " ") + "\x00" + aud
	ids.mu.Lock()
	c, ok := ids.jwts[key]
	ids.mu.Unlock()
	if ok && c.exp.Sub(now) > identityReuse {
		return c.jwt, nil
	}
	exp := now.Add(identityTTL)
	tok, err := ids.cfg.Sign(ctx, map[string]any{
		"iss": ids.cfg.Issuer, "aud": aud, "sub": id.Subject, "name": id.Name,
		"preferred_username": id.Name, "client_id": id.ClientID, "scope": strings.Join(id.Scopes, " "),
		"iat": now.Unix(), "nbf": now.Unix() - 5, "exp": exp.Unix(),
	})
	if err != nil {
		return "", err
	}
	ids.mu.Lock()
	if len(ids.jwts) > 10000 {
		clear(ids.jwts)
	}
	ids.jwts[key] = cachedJWT{jwt: tok, exp: exp}
	ids.mu.Unlock()
	return tok, nil
}

// setIdentityHeaders puts id on an upstream request for audience aud.
func (ids *identities) setIdentityHeaders(ctx context.Context, h http.Header, id Identity, aud string) error {
	h.Set(HeaderPrincipalName, id.Name)
	h.Set(HeaderPrincipalID, id.Subject)
	h.Set(HeaderPrincipalIDP, IDP)
	h.Set(HeaderPrincipal, principal(id))
	tok, err := ids.jwt(ctx, id, aud)
	if err != nil {
		return err
	}
	if tok != "" {
		h.Set(HeaderIdentity, tok)
	}
	return nil
}
