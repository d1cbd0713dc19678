package storage

import "context"

// ChangeKind says what a Change is about.
type ChangeKind int

// Change kinds.
const (
	// ChangeGrant: an access token of the grant named by ID (its request
	// ID) was revoked, rotated away or deleted.
	ChangeGrant ChangeKind = iota + 1
	// ChangeClient: the client named by ID changed or was deleted.
	ChangeClient
	// ChangeKeys: the signing keys changed.
	ChangeKeys
	// ChangeAll: anything may have changed (the watch has just started or
	// reconnected, and may have missed changes); drop every cached record.
	ChangeAll
	// ChangeLost: the watch lost its connection; until the next ChangeAll,
	// changes are not delivered, so cache nothing.
	ChangeLost
)

// Change names a record that changed, so that a cache of it can be dropped.
type Change struct {
	Kind ChangeKind
	// ID is the request ID (ChangeGrant) or the client ID (ChangeClient);
	// empty for the other kinds.
	ID string
}

// Watcher is implemented by stores that several processes share and that
// can tell each of them what the others changed (the PostgreSQL backend).
// A store of one process (SQLite) has no need of it.
type Watcher interface {
	// Watch calls fn with every change committed to the store, by any
	// process including this one, until ctx ends; then it returns ctx's
	// error. It calls fn from one goroutine, in commit order, and first
	// with ChangeAll once it is listening. If its connection fails it calls
	// fn with ChangeLost, reconnects by itself, and calls fn with ChangeAll
	// again once it listens again.
	Watch(ctx context.Context, fn func(Change)) error
}

// Exclusive is implemented by stores that several processes share, to run
// a periodic job (garbage collection, the sweep of unused clients) on one
// of them at a time.
type Exclusive interface {
	// TryExclusive runs fn unless another process is running a job of the
	// same name, and reports whether it ran. fn's context ends if the lock
	// is lost.
	TryExclusive(ctx context.Context, name string, fn func(ctx context.Context)) (bool, error)
}
