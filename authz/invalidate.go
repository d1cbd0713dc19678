package authz

import (
	"context"
	"sync/atomic"

	"github.com/tenantless/tenantless/storage"
)

// Several instances on one database (storage.Watcher): each caches
// verified tokens, client records and the signing keys, and another
// instance, or the CLI, may change what they came from. The store tells
// every instance what changed and Invalidate drops it, within the
// notification's latency (milliseconds) instead of recheckAfter. While
// the store's watch is down nothing is cached at all, since a change
// then would go unheard; every read goes to the store.

// Cache states (Server.watch).
const (
	watchNone    int32 = iota // no watcher: caches bounded by recheckAfter
	watchLive                 // changes are delivered: caches trusted
	watchStopped              // changes may be missed: cache nothing
)

// Invalidate applies a change that the store reports (storage.Watcher)
// to the server's caches. Call it from the watch's goroutine with every
// change, starting with a storage.ChangeLost before the watch starts, so
// that nothing is cached until the store listens.
func (s *Server) Invalidate(ctx context.Context, c storage.Change) {
	switch c.Kind {
	case storage.ChangeGrant:
		s.verified.dropGrant(c.ID)
	case storage.ChangeClient:
		s.clients.drop(c.ID)
		s.verified.dropClient(c.ID)
	case storage.ChangeKeys:
		s.reloadKeys(ctx)
	case storage.ChangeLost:
		s.watch.Store(watchStopped)
		s.clients.clear()
		s.verified.clear()
	case storage.ChangeAll:
		// Order matters: entries put while stopped were refused, and the
		// clear below makes any put racing with it fail its generation.
		s.clients.clear()
		s.verified.clear()
		s.watch.Store(watchLive)
		s.reloadKeys(ctx)
	}
}

// reloadKeys re-reads the signing keys now (MaintainKeys would within
// KeyReloadInterval).
func (s *Server) reloadKeys(ctx context.Context) {
	if err := s.keys.reload(ctx, s.store); err != nil && ctx.Err() == nil {
		s.log.Error("reload signing keys after a change", "err", err)
	}
}

// caching reports whether the caches may be used now.
func (s *Server) caching() bool { return s.watch.Load() != watchStopped }

// watchState is the server's cache state; its zero value is watchNone.
type watchState = atomic.Int32
