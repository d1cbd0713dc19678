package sqlite

import (
	"context"
	"time"

	"github.com/tenantless/tenantless/storage"
)

// gcBatch is how many rows one garbage-collection statement deletes. A
// token row with its five index entries takes ~20 µs to delete, so a batch
// holds the single writer for ~10 ms: a backlog of a million expired rows
// is swept without stalling sign-ins (in one transaction it held the
// writer for 20 s).
const gcBatch = 500

// GarbageCollect removes token rows, sessions and initial access tokens
// whose ExpiresAt is before now, attempt buckets full again at now, then
// clients of source SourceCIMD whose
// ExpiresAt is before now and that hold no tokens (counted after the
// expired tokens are gone) and no consent. Rows with a zero ExpiresAt
// (stored as 0) never expire. A metadata-document client's record is a
// cached copy of its document, but a consent belongs to its client_id: a
// record with a consent stays (stale, so the next authorization fetches
// the document again) until the user revokes the consent.
//
// Inside the context's transaction it is one pass; otherwise each table is
// swept in batches of gcBatch rows, each its own transaction, so other
// writers interleave. Every deleted row is expired either way, so a sweep
// cut short (by an error or a canceled context) is simply resumed by the
// next one.
func (s *Store) GarbageCollect(ctx context.Context, now time.Time) (storage.GCResult, error) {
	var r storage.GCResult
	var full int64 // attempt buckets full again: not counted in GCResult
	cutoff := now.Unix()
	steps := []struct {
		n     *int64
		table string
		where string
		args  []any
	}{
		{&r.Tokens, "tokens", `expires_at > 0 AND expires_at < ?`, []any{cutoff}},
		{&r.Sessions, "sessions", `expires_at > 0 AND expires_at < ?`, []any{cutoff}},
		{&r.InitialAccessTokens, "initial_access_tokens", `expires_at > 0 AND expires_at < ?`, []any{cutoff}},
		{&full, "attempt_buckets", `tat_ms < ?`, []any{now.UnixMilli()}},
		{&r.Clients, "clients", `source = ? AND expires_at > 0 AND expires_at < ?
			AND NOT EXISTS (SELECT 1 FROM tokens WHERE tokens.client_id = clients.id)
			AND NOT EXISTS (SELECT 1 FROM consents WHERE consents.client_id = clients.id)`,
			[]any{storage.SourceCIMD, cutoff}},
	}
	if txFrom(ctx) != nil {
		err := s.inTx(ctx, func(q querier) error {
			for _, st := range steps {
				n, err := execCount(ctx, q, `DELETE FROM `+st.table+` WHERE `+st.where, st.args...)
				if err != nil {
					return err
				}
				*st.n = n
			}
			return nil
		})
		if err != nil {
			return storage.GCResult{}, wrap("garbage collect", err)
		}
		return r, nil
	}
	for _, st := range steps {
		query := `DELETE FROM ` + st.table + ` WHERE rowid IN (SELECT rowid FROM ` + st.table + ` WHERE ` + st.where + ` LIMIT ?)`
		args := append(st.args, gcBatch)
		for {
			if err := ctx.Err(); err != nil {
				return r, wrap("garbage collect", err)
			}
			n, err := execCount(ctx, lockedWriter{s}, query, args...)
			*st.n += n
			if err != nil {
				return r, wrap("garbage collect", err)
			}
			if n < gcBatch {
				break
			}
		}
	}
	return r, nil
}

// execCount runs a statement and returns how many rows it changed.
func execCount(ctx context.Context, q querier, query string, args ...any) (int64, error) {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
