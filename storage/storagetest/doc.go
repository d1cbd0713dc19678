// Package storagetest is the conformance suite every storage.Store backend
// must pass: call Run from the backend's tests.
//
// It covers every method of storage.Store: round trips of every field, the
// ErrNotFound and ErrConflict contracts, list ordering, cascading deletes,
// one-time codes, refresh rotation, the sweep of unused clients, garbage
// collection, the audit log (filters, order, limits, pruning, IDs),
// registered resources (round trips, upsert, order, revoking their grants),
// transactions carried in the context, and concurrent use (one-time use and
// rotation races, concurrent appends, and mixed load). Times are fixed
// values, never the wall clock, and no test sleeps.
//
// It is imported only by _test.go files; it imports storage, the standard
// library and go-cmp.
package storagetest
