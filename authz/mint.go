package authz

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"

	"github.com/tenantless/tenantless/storage"
)

// CLIClientID is the client_id of access tokens minted with
// "tenantless token": a client record that can neither sign in nor use the
// token endpoint (it has no redirect URI and no grant type), created on
// first use so that the tokens' grants have a client like any other.
const CLIClientID = "tenantless-cli"

// MaxMintTTL bounds the lifetime of a minted token.
const MaxMintTTL = 24 * time.Hour

// Mint describes an access token minted outside the OAuth flow, for
// testing a resource server with curl.
type Mint struct {
	// Issuer is the "iss" claim: the running server's issuer. Required.
	Issuer string
	// Username is the user the token is for ("sub" is their ID). Required.
	Username string
	// Resource is a registered resource URL (or alias): the "aud". Required.
	Resource string
	// Scopes must be scopes of the resource; empty means all of them.
	Scopes []string
	// TTL is the lifetime, at most MaxMintTTL; zero means 10 minutes.
	TTL time.Duration
	// ClientID is an existing client to name in "client_id"; empty means
	// CLIClientID.
	ClientID string
	// Actor is who mints it, for the audit log: storage.ActorCLI, or
	// storage.ActorServer when empty.
	Actor string
}

// MintedToken is an access token minted by MintAccessToken.
type MintedToken struct {
	AccessToken string
	Subject     string
	Username    string
	ClientID    string
	Resource    string
	Scopes      []string
	IssuedAt    time.Time
	ExpiresAt   time.Time
	KeyID       string
	Algorithm   string
	JTI         string
}

// MintAccessToken issues an access token exactly as the token endpoint
// does (same claims, header, signing key, stored grant and audit event),
// so that a running server and every JWKS verifier accept it, and
// revocation and "grant revoke" work on it.
func MintAccessToken(ctx context.Context, st storage.Store, m Mint, now time.Time) (MintedToken, error) {
	if _, err := url.Parse(m.Issuer); err != nil || !strings.HasPrefix(m.Issuer, "http") || strings.HasSuffix(m.Issuer, "/") {
		return MintedToken{}, fmt.Errorf("issuer %q must be the server's http(s) issuer URL without a trailing slash", m.Issuer)
	}
	if m.TTL == 0 {
		m.TTL = 10 * time.Minute
	}
	if m.TTL < time.Second || m.TTL > MaxMintTTL {
		return MintedToken{}, fmt.Errorf("the lifetime must be between 1s and %s, got %s", MaxMintTTL, m.TTL)
	}
	u, err := st.GetUserByUsername(ctx, m.Username)
	if errors.Is(err, storage.ErrNotFound) {
		return MintedToken{}, fmt.Errorf("no user %q (see \"tenantless user list\")", m.Username)
	}
	if err != nil {
		return MintedToken{}, err
	}
	rec, err := FindResource(ctx, st, m.Resource)
	if err != nil {
		return MintedToken{}, err
	}
	aud, _ := canonicalResource(m.Resource)
	scopes := m.Scopes
	if len(scopes) == 0 {
		scopes = rec.Scopes
	}
	for _, sc := range scopes {
		if !slices.Contains(rec.Scopes, sc) {
			return MintedToken{}, fmt.Errorf("scope %q is not a scope of %s (its scopes: %s)", sc, rec.URL, strings.Join(rec.Scopes, " "))
		}
	}
	clientID := m.ClientID
	if clientID == "" {
		clientID = CLIClientID
		err := st.CreateClient(ctx, storage.Client{
			ID: CLIClientID, Name: "tenantless token (command line)", TokenEndpointAuthMethod: authMethodNone,
			Source: storage.SourceStatic, CreatedAt: now.UTC().Truncate(time.Second), UpdatedAt: now.UTC().Truncate(time.Second),
		})
		if err != nil && !errors.Is(err, storage.ErrConflict) {
			return MintedToken{}, fmt.Errorf("create the %s client: %w", CLIClientID, err)
		}
	} else if _, err := st.GetClient(ctx, clientID); err != nil {
		return MintedToken{}, fmt.Errorf("client %q: %w", clientID, err)
	}

	ks := &keySet{}
	if err := ks.reload(ctx, st); err != nil {
		return MintedToken{}, err
	}
	if ks.current == nil {
		return MintedToken{}, errors.New("no signing key yet: start the server once (tenantless serve) so that it creates one")
	}
	key := ks.current

	iat := now.UTC().Truncate(time.Second)
	exp := iat.Add(m.TTL)
	sess := newSession(u, clientID)
	sess.JWTClaims.IssuedAt = iat
	sess.SetExpiresAt(fosite.AccessToken, exp)
	req := &fosite.Request{
		// The grant ID: "tenantless grant revoke ID" takes it, so it must
		// not start with "-" as a bare random token may (a flag to the
		// command line).
		ID:             "cli-" + randomToken(16),
		RequestedAt:    iat,
		Client:         &fosite.DefaultClient{ID: clientID},
		RequestedScope: scopes, GrantedScope: scopes,
		RequestedAudience: []string{aud}, GrantedAudience: []string{aud},
		Form:    url.Values{},
		Session: sess,
	}
	strategy := &oauth2.DefaultJWTStrategy{
		Signer: &jwt.DefaultSigner{GetPrivateKey: func(context.Context) (interface{}, error) { return key, nil }},
		Config: &fosite.Config{AccessTokenIssuer: m.Issuer, JWTScopeClaimKey: jwt.JWTScopeFieldString},
	}
	token, sig, err := strategy.GenerateAccessToken(ctx, req)
	if err != nil {
		return MintedToken{}, fmt.Errorf("sign access token: %w", err)
	}
	tx, err := st.BeginTx(ctx)
	if err != nil {
		return MintedToken{}, err
	}
	defer func() { _ = st.Rollback(tx) }()
	if err := (&fositeStore{st: st}).create(tx, storage.KindAccess, sig, "", req, exp); err != nil {
		return MintedToken{}, fmt.Errorf("store access token: %w", err)
	}
	if err := st.AppendAudit(tx, storage.AuditEvent{Time: now.UTC(), Type: AuditTokenIssued, UserID: u.ID, ClientID: clientID,
		Outcome: "success", Actor: actorOr(m.Actor), Detail: "tenantless token for " + aud + ": " + strings.Join(scopes, " ")}); err != nil {
		return MintedToken{}, err
	}
	if err := st.Commit(tx); err != nil {
		return MintedToken{}, err
	}
	return MintedToken{
		AccessToken: token, Subject: u.ID, Username: u.Username, ClientID: clientID, Resource: aud, Scopes: scopes,
		IssuedAt: iat, ExpiresAt: exp, KeyID: key.KeyID, Algorithm: key.Algorithm, JTI: sess.JWTClaims.JTI,
	}, nil
}
