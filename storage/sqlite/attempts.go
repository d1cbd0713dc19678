package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tenantless/tenantless/storage"
)

// TakeAttempt spends (take) or looks at one attempt of the bucket key; see
// storage.Store. The read and the write share one transaction on the
// single writer, so concurrent takes are serialised.
func (s *Store) TakeAttempt(ctx context.Context, key string, every time.Duration, burst int, take bool, now time.Time) (bool, time.Duration, error) {
	if every <= 0 || burst <= 0 {
		return false, 0, fmt.Errorf("take attempt: every %v and burst %d must be positive", every, burst)
	}
	var (
		ok   bool
		wait time.Duration
	)
	run := s.inTx
	if !take && txFrom(ctx) == nil {
		run = func(ctx context.Context, fn func(q querier) error) error { return fn(s.rc) }
	}
	err := run(ctx, func(q querier) error {
		var ms int64
		err := q.QueryRowContext(ctx, `SELECT tat_ms FROM attempt_buckets WHERE key = ?`, key).Scan(&ms)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var next time.Time
		next, ok, wait = storage.NextAttempt(time.UnixMilli(ms), every, burst, now)
		if !ok || !take {
			return nil
		}
		_, err = q.ExecContext(ctx, `INSERT INTO attempt_buckets (key, tat_ms) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET tat_ms = excluded.tat_ms`, key, next.UnixMilli())
		return err
	})
	if err != nil {
		return false, 0, wrap("take attempt", err)
	}
	return ok, wait, nil
}
