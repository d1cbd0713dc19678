package authz

import (
	"context"
	"sync"

	"github.com/tenantless/tenantless/storage"
)

// Client records are read at every step of every OAuth request: fosite
// looks the client up for the request, for client authentication, and for
// each stored session it loads (five reads for one authorization flow).
// Two layers answer most of them from memory:
//
//   - clientMemo, per request: every read in one request sees one record;
//   - Server.clients, per server: a record read in the last recheckAfter is
//     reused. This server's own changes to a client (registration
//     management, metadata documents, the sweep) take effect at once;
//     changes by another process on the same database, such as
//     "tenantless client delete", within recheckAfter, the same bound as
//     for revocations (see VerifyAccessToken).

// clientMemoKey is the context key of a request's clientMemo.
type clientMemoKey struct{}

// clientMemo remembers the client records one request has read.
type clientMemo struct {
	mu sync.Mutex
	m  map[string]storage.Client
}

// withClientMemo returns ctx with an empty memo. Call it after anything in
// the request that writes client records (ensureCIMDClient).
func withClientMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, clientMemoKey{}, &clientMemo{m: make(map[string]storage.Client, 1)})
}

// getClient reads a client record through the request's memo (if ctx
// has one) and the server's cache.
func (s *Server) getClient(ctx context.Context, id string) (storage.Client, error) {
	memo, _ := ctx.Value(clientMemoKey{}).(*clientMemo)
	if memo != nil {
		memo.mu.Lock()
		c, ok := memo.m[id]
		memo.mu.Unlock()
		if ok {
			return c, nil
		}
	}
	now := s.now()
	c, gen, ok := s.clients.get(id, now)
	if !ok {
		var err error
		if c, err = s.store.GetClient(ctx, id); err != nil {
			return c, err
		}
		s.clients.put(id, c, gen, now.Add(recheckAfter), now)
	}
	if memo != nil {
		memo.mu.Lock()
		memo.m[id] = c
		memo.mu.Unlock()
	}
	return c, nil
}
