package authz

import (
	"context"
	"sync"

	"github.com/tenantless/tenantless/storage"
)

// clientMemoKey is the context key of a request's clientMemo.
type clientMemoKey struct{}

// clientMemo remembers the client records one request has read. fosite
// looks the client up at every step (the request, client authentication,
// each stored session it loads: five reads for one authorization flow);
// within one request they are the same record, so one read serves them
// all. It lives only as long as the request's context, so a client changed
// or deleted by another request or process is seen by the next request.
type clientMemo struct {
	mu sync.Mutex
	m  map[string]storage.Client
}

// withClientMemo returns ctx with an empty memo. Call it after anything in
// the request that writes client records (ensureCIMDClient).
func withClientMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, clientMemoKey{}, &clientMemo{m: make(map[string]storage.Client, 1)})
}

// getClient reads a client record, through the context's memo if it has
// one.
func (s *Server) getClient(ctx context.Context, id string) (storage.Client, error) {
	memo, _ := ctx.Value(clientMemoKey{}).(*clientMemo)
	if memo == nil {
		return s.store.GetClient(ctx, id)
	}
	memo.mu.Lock()
	c, ok := memo.m[id]
	memo.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return c, err
	}
	memo.mu.Lock()
	memo.m[id] = c
	memo.mu.Unlock()
	return c, nil
}
