package authz

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/tenantless/tenantless/storage"
)

// AccessToken is what VerifyAccessToken learns from a valid access token.
type AccessToken struct {
	Subject  string
	ClientID string
	Scopes   []string
	Audience []string
	Expiry   time.Time
}

// ErrInvalidToken is returned for any access token that is not valid now.
// (When the store cannot be reached, VerifyAccessToken returns an error
// matching storage.ErrUnavailable instead.)
var ErrInvalidToken = errors.New("invalid access token")

// recheckAfter bounds how long a cached verification is trusted without
// looking at the store again. Revocations made by this process (at
// /revoke, by refresh rotation or reuse detection, by deleting a client)
// take effect at once; this only bounds revocations made by another
// process on the same database, such as the admin CLI, when the store
// cannot report them (invalidate.go).
const recheckAfter = 10 * time.Second

// VerifyAccessToken checks an access token issued by this server: its
// signature and expiry, and that its grant is still live in the store.
// A token seen before is answered from memory (no signature check, no
// database read) until it expires, its grant is revoked in this process,
// or recheckAfter passes.
func (s *Server) VerifyAccessToken(ctx context.Context, token string) (AccessToken, error) {
	at, _, err := s.verifyAccessToken(ctx, token)
	return at, err
}

// verifyAccessToken is VerifyAccessToken, also returning the token's
// stored request (for introspection).
func (s *Server) verifyAccessToken(ctx context.Context, token string) (AccessToken, fosite.AccessRequester, error) {
	key := sha256.Sum256([]byte(token))
	now := s.now()
	caching := s.caching()
	hit, gen, ok := s.verified.get(key, now)
	if ok && caching {
		return hit.at, hit.ar, nil
	}
	use, ar, err := s.provider.IntrospectToken(ctx, token, fosite.AccessToken, &oauth2.JWTSession{})
	if errors.Is(err, storage.ErrUnavailable) {
		// Not the token's fault: the client should retry, not drop it.
		return AccessToken{}, nil, fmt.Errorf("verify access token: %w", err)
	}
	if err != nil || use != fosite.AccessToken {
		return AccessToken{}, nil, ErrInvalidToken
	}
	exp := ar.GetSession().GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() || !now.Before(exp) {
		return AccessToken{}, nil, ErrInvalidToken
	}
	at := AccessToken{
		Subject:  ar.GetSession().GetSubject(),
		ClientID: ar.GetClient().GetID(),
		Scopes:   ar.GetGrantedScopes(),
		Audience: ar.GetGrantedAudience(),
		Expiry:   exp,
	}
	// Trusted until it expires or recheckAfter passes, whichever is first.
	until := now.Add(recheckAfter)
	if exp.Before(until) {
		until = exp
	}
	if caching {
		s.verified.put(key, cachedToken{at: at, ar: ar}, gen, until, now)
	}
	return at, ar, nil
}

// tokenCache remembers verified access tokens by the SHA-256 of the token,
// with their stored request, whose ID (the grant's) lets revocation drop
// them.
type tokenCache struct {
	ttlCache[[32]byte, cachedToken]
}

type cachedToken struct {
	at AccessToken
	ar fosite.AccessRequester
}

// dropGrant forgets every token of a grant.
func (c *tokenCache) dropGrant(requestID string) {
	c.dropIf(func(e cachedToken) bool { return e.ar.GetID() == requestID })
}

// dropClient forgets every token of a client.
func (c *tokenCache) dropClient(clientID string) {
	c.dropIf(func(e cachedToken) bool { return e.at.ClientID == clientID })
}
