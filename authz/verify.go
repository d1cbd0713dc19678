package authz

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
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
var ErrInvalidToken = errors.New("invalid access token")

// recheckAfter bounds how long a cached verification is trusted without
// looking at the store again. Revocations made by this process (at
// /revoke, by refresh rotation or reuse detection, by deleting a client)
// take effect at once; this only bounds revocations made by another
// process on the same database, such as the admin CLI.
const recheckAfter = 10 * time.Second

// maxCachedTokens bounds the verification cache.
const maxCachedTokens = 10000

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
	at, ar, gen, ok := s.verified.get(key, now)
	if ok {
		return at, ar, nil
	}
	use, ar, err := s.provider.IntrospectToken(ctx, token, fosite.AccessToken, &oauth2.JWTSession{})
	if err != nil || use != fosite.AccessToken {
		return AccessToken{}, nil, ErrInvalidToken
	}
	exp := ar.GetSession().GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() || !now.Before(exp) {
		return AccessToken{}, nil, ErrInvalidToken
	}
	at = AccessToken{
		Subject:  ar.GetSession().GetSubject(),
		ClientID: ar.GetClient().GetID(),
		Scopes:   ar.GetGrantedScopes(),
		Audience: ar.GetGrantedAudience(),
		Expiry:   exp,
	}
	s.verified.put(key, ar.GetID(), at, ar, gen, now)
	return at, ar, nil
}

// tokenCache remembers verified access tokens by the SHA-256 of the token,
// with the grant (request ID) they belong to so revocation can drop them.
// Every drop bumps a generation counter, and a verification that started
// before a drop does not cache its result: a token read from the store
// just before its grant was revoked is not remembered as valid.
type tokenCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[[32]byte]cachedToken
}

type cachedToken struct {
	at        AccessToken
	ar        fosite.AccessRequester
	requestID string
	recheck   time.Time
}

// get returns a cached verification, and the generation to pass to put
// after a miss.
func (c *tokenCache) get(key [32]byte, now time.Time) (AccessToken, fosite.AccessRequester, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return AccessToken{}, nil, c.gen, false
	}
	if !now.Before(e.recheck) || !now.Before(e.at.Expiry) {
		delete(c.entries, key)
		return AccessToken{}, nil, c.gen, false
	}
	return e.at, e.ar, c.gen, true
}

func (c *tokenCache) put(key [32]byte, requestID string, at AccessToken, ar fosite.AccessRequester, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.entries == nil {
		c.entries = map[[32]byte]cachedToken{}
	}
	if len(c.entries) >= maxCachedTokens {
		for k, e := range c.entries {
			if !now.Before(e.recheck) || !now.Before(e.at.Expiry) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries { // still full: drop arbitrary entries
			if len(c.entries) < maxCachedTokens*9/10 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = cachedToken{at: at, ar: ar, requestID: requestID, recheck: now.Add(recheckAfter)}
}

// dropGrant forgets every token of a grant.
func (c *tokenCache) dropGrant(requestID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if e.requestID == requestID {
			delete(c.entries, k)
		}
	}
}

// dropClient forgets every token of a client.
func (c *tokenCache) dropClient(clientID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if e.at.ClientID == clientID {
			delete(c.entries, k)
		}
	}
}
