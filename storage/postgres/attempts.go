package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/tenantless/tenantless/storage"
)

// TakeAttempt spends (take) or looks at one attempt of the bucket key; see
// storage.Store. A take locks the bucket's row (creating it first), so
// concurrent takes from any instance queue on it and each sees the
// previous one's result.
func (s *Store) TakeAttempt(ctx context.Context, key string, every time.Duration, burst int, take bool, now time.Time) (bool, time.Duration, error) {
	if every <= 0 || burst <= 0 {
		return false, 0, fmt.Errorf("take attempt: every %v and burst %d must be positive", every, burst)
	}
	if !take {
		var ms int64
		err := s.q(ctx).QueryRow(ctx, `SELECT coalesce(max(tat_ms), 0) FROM attempt_buckets WHERE key = $1`, key).Scan(&ms)
		if err != nil {
			return false, 0, wrap("take attempt", err)
		}
		_, ok, wait := storage.NextAttempt(time.UnixMilli(ms), every, burst, now)
		return ok, wait, nil
	}
	var (
		ok   bool
		wait time.Duration
	)
	err := s.inTx(ctx, func(q querier) error {
		if _, err := q.Exec(ctx, `INSERT INTO attempt_buckets (key, tat_ms) VALUES ($1, 0) ON CONFLICT (key) DO NOTHING`, key); err != nil {
			return err
		}
		var ms int64
		if err := q.QueryRow(ctx, `SELECT tat_ms FROM attempt_buckets WHERE key = $1 FOR UPDATE`, key).Scan(&ms); err != nil {
			return err
		}
		var next time.Time
		next, ok, wait = storage.NextAttempt(time.UnixMilli(ms), every, burst, now)
		if !ok {
			return nil
		}
		_, err := q.Exec(ctx, `UPDATE attempt_buckets SET tat_ms = $2 WHERE key = $1`, key, next.UnixMilli())
		return err
	})
	if err != nil {
		return false, 0, wrap("take attempt", err)
	}
	return ok, wait, nil
}
