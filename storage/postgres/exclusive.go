package postgres

import (
	"context"
	"time"
)

// TryExclusive runs fn unless another process holds the advisory lock of
// name (in this schema), and reports whether it ran. The lock is a
// session lock on a connection of its own, so a process that dies drops
// it with its connection; while fn runs the connection is pinged, and
// fn's context is canceled if it stops answering (the lock is then gone).
func (s *Store) TryExclusive(ctx context.Context, name string, fn func(ctx context.Context)) (bool, error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return false, wrap("try exclusive "+name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	const key = `hashtext('tenantless.job.' || current_schema() || '.' || $1)`
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+key+`)`, name).Scan(&got); err != nil {
		return false, wrap("try exclusive "+name, err)
	}
	if !got {
		return false, nil
	}
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-jctx.Done():
				return
			case <-t.C:
				pctx, pcancel := context.WithTimeout(jctx, 2*time.Second)
				err := conn.Ping(pctx)
				pcancel()
				if err != nil {
					cancel()
					return
				}
			}
		}
	}()
	fn(jctx)
	cancel()
	<-done
	// Unlock now rather than leave it to the server noticing the closed
	// connection, so that the next run anywhere can start at once.
	_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`, name)
	return true, nil
}
