package authz

import (
	"context"

	"github.com/tenantless/tenantless/storage"
)

// Client records are read at every step of every OAuth request: fosite
// looks the client up for the request, for client authentication, and for
// each stored session it loads (five reads for one authorization flow).
// Server.clients answers them from memory: a record read in the last
// recheckAfter is reused. This server's own changes to a client
// (registration management, metadata documents, the sweep) drop its entry
// and take effect at once; changes by another process on the same
// database, such as "tenantless client delete", within recheckAfter, the
// same bound as for revocations (see VerifyAccessToken).

// getClient reads a client record through the server's cache.
func (s *Server) getClient(ctx context.Context, id string) (storage.Client, error) {
	if !s.caching() {
		return s.store.GetClient(ctx, id)
	}
	now := s.now()
	c, gen, ok := s.clients.get(id, now)
	if ok {
		return c, nil
	}
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return c, err
	}
	s.clients.put(id, c, gen, now.Add(recheckAfter), now)
	return c, nil
}
