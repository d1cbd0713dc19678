package authz

import (
	"context"
	"sync"
	"time"

	"github.com/tenantless/tenantless/storage"
)

// Client records are read at every step of every OAuth request: fosite
// looks the client up for the request, for client authentication, and for
// each stored session it loads (five reads for one authorization flow).
// Two layers answer most of them from memory:
//
//   - clientMemo, per request: every read in one request sees one record;
//   - clientCache, per server: a record read in the last recheckAfter is
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

// maxCachedClients bounds the client cache; when full it starts over.
const maxCachedClients = 10000

// clientCache remembers client records by ID for recheckAfter. A
// generation counter, bumped by every invalidation, keeps a read that
// raced with a change from caching the record from before it.
type clientCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[string]cachedClient
}

type cachedClient struct {
	c     storage.Client
	until time.Time
}

func (cc *clientCache) get(id string, now time.Time) (storage.Client, uint64, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.entries[id]
	if ok && now.Before(e.until) {
		return e.c, cc.gen, true
	}
	return storage.Client{}, cc.gen, false
}

// put caches c if nothing was invalidated since get returned gen.
func (cc *clientCache) put(c storage.Client, gen uint64, now time.Time) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if gen != cc.gen {
		return
	}
	if cc.entries == nil || len(cc.entries) >= maxCachedClients {
		cc.entries = make(map[string]cachedClient)
	}
	cc.entries[c.ID] = cachedClient{c: c, until: now.Add(recheckAfter)}
}

// invalidate forgets a client after this server changed or removed it.
func (cc *clientCache) invalidate(id string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen++
	delete(cc.entries, id)
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
		s.clients.put(c, gen, now)
	}
	if memo != nil {
		memo.mu.Lock()
		memo.m[id] = c
		memo.mu.Unlock()
	}
	return c, nil
}
