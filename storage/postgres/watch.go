package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantless/tenantless/storage"
)

// watchPing is how long Watch waits for a notification before it checks
// that its connection still answers: a connection that died silently
// (a restarted server behind a proxy, a cut network) is noticed within
// about this long, and the caches stop trusting themselves.
const watchPing = 500 * time.Millisecond

// channel is the notification channel of the store's schema (migration
// 0002's triggers send to it).
func (s *Store) channel() string { return "tenantless." + s.schema }

// Watch calls fn with every change the triggers of migration 0002 report,
// committed by any process on the database, until ctx ends, and then
// returns ctx's error. It listens on a connection of its own: fn gets
// ChangeAll once it listens, ChangeLost when the connection fails, and
// ChangeAll again once it has reconnected (retrying every second or so).
func (s *Store) Watch(ctx context.Context, fn func(storage.Change)) error {
	wait := 50 * time.Millisecond
	for {
		err := s.watchOnce(ctx, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		_ = err // the next attempt, or ChangeLost, is all a caller can act on
		fn(storage.Change{Kind: storage.ChangeLost})
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// watchOnce listens until the connection fails or ctx ends. Once
// listening it reports ChangeAll.
func (s *Store) watchOnce(ctx context.Context, fn func(storage.Change)) error {
	conn, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel()}.Sanitize()); err != nil {
		return err
	}
	fn(storage.Change{Kind: storage.ChangeAll})
	for {
		wctx, cancel := context.WithTimeout(ctx, watchPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if c, ok := parseChange(n.Payload); ok {
				fn(c)
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// Nothing for a while: check that the server is still there
			// (a timed-out wait leaves the connection usable).
			pctx, cancel := context.WithTimeout(ctx, 2*watchPing)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// parseChange reads a trigger's payload: "grant ID", "client ID" or "keys".
func parseChange(p string) (storage.Change, bool) {
	kind, id, _ := strings.Cut(p, " ")
	switch kind {
	case "grant":
		return storage.Change{Kind: storage.ChangeGrant, ID: id}, true
	case "client":
		return storage.Change{Kind: storage.ChangeClient, ID: id}, true
	case "keys":
		return storage.Change{Kind: storage.ChangeKeys}, true
	}
	return storage.Change{}, false
}
