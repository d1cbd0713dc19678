package main

import (
	"context"
	"log/slog"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/storage"
)

// Several instances on one database (PostgreSQL): what each must do so
// that they behave as one server.

// shared reports whether st is a database several instances may share
// (PostgreSQL), whose instances must then keep nothing a client's next
// request needs, such as an MCP session.
func shared(st storage.Store) bool {
	_, ok := st.(storage.Watcher)
	return ok
}

// watchChanges delivers what other processes change in st to as's caches,
// until ctx ends, when st can report changes (storage.Watcher); for a
// store of one process it does nothing. Until the watch listens, as caches
// nothing.
func watchChanges(ctx context.Context, st storage.Store, as *authz.Server, log *slog.Logger) {
	w, ok := st.(storage.Watcher)
	if !ok {
		return
	}
	as.Invalidate(ctx, storage.Change{Kind: storage.ChangeLost})
	go func() {
		lost := false
		_ = w.Watch(ctx, func(c storage.Change) {
			switch {
			case c.Kind == storage.ChangeLost && !lost:
				lost = true
				log.Warn("lost the database's change notifications; caching nothing until they are back")
			case c.Kind == storage.ChangeAll && lost:
				lost = false
				log.Info("database change notifications are back")
			}
			as.Invalidate(ctx, c)
		})
	}()
}

// exclusive wraps a periodic job so that, on a store several instances
// share (storage.Exclusive), one instance at a time runs it; the others
// skip that round.
func exclusive(st storage.Store, name string, log *slog.Logger, job func(context.Context)) func(context.Context) {
	ex, ok := st.(storage.Exclusive)
	if !ok {
		return job
	}
	return func(ctx context.Context) {
		ran, err := ex.TryExclusive(ctx, name, job)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("start "+name, "err", err)
		case !ran:
			log.Debug(name + " is running on another instance; skipped")
		}
	}
}
