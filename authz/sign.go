package authz

import (
	"context"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
)

// SignJWT signs claims as a compact JWT (RFC 7519) with the server's
// current signing key, the same key as access tokens, so anyone can
// verify it with /jwks.json (the "kid" header names the key). The caller
// sets every claim, expiry included; the header's "typ" is typ (for
// example "JWT"). The gateway uses it for the identity it hands the
// upstream MCP server.
func (s *Server) SignJWT(_ context.Context, typ string, claims map[string]any) (string, error) {
	s.keys.mu.RLock()
	key := s.keys.current
	s.keys.mu.RUnlock()
	if key == nil {
		return "", errors.New("no signing key")
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.Algorithm), Key: key},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", fmt.Errorf("sign jwt: %w", err)
	}
	tok, err := jwt.Signed(sig).Claims(claims).CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("sign jwt: %w", err)
	}
	return tok, nil
}
