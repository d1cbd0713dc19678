package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/tenantless/tenantless/storage"
)

// gcBatch is how many rows one garbage-collection statement deletes, so
// that a backlog of a million expired rows is swept in short statements
// that each hold few row locks.
const gcBatch = 500

// GarbageCollect removes token rows, sessions and initial access tokens
// whose ExpiresAt is before now, attempt buckets full again at now, then
// clients of source SourceCIMD whose
// ExpiresAt is before now and that hold no tokens (counted after the
// expired tokens are gone). Rows with a zero ExpiresAt (stored as 0) never
// expire. Consents of removed clients go with them.
//
// Inside the context's transaction it is one pass; otherwise each table is
// swept in batches of gcBatch rows, each committed on its own. Every
// deleted row is expired either way, so a sweep cut short is resumed by
// the next one. (A metadata-document client removed while a token is
// being issued to it is fetched again at its next request.)
func (s *Store) GarbageCollect(ctx context.Context, now time.Time) (storage.GCResult, error) {
	var r storage.GCResult
	var full int64 // attempt buckets full again: not counted in GCResult
	cutoff := now.Unix()
	steps := []struct {
		n     *int64
		table string
		key   string
		where string
		args  []any
	}{
		{&r.Tokens, "tokens", "(kind, signature)", `expires_at > 0 AND expires_at < $1`, []any{cutoff}},
		{&r.Sessions, "sessions", "id_hash", `expires_at > 0 AND expires_at < $1`, []any{cutoff}},
		{&r.InitialAccessTokens, "initial_access_tokens", "hash", `expires_at > 0 AND expires_at < $1`, []any{cutoff}},
		{&full, "attempt_buckets", "key", `tat_ms < $1`, []any{now.UnixMilli()}},
		{&r.Clients, "clients", "id", `source = $2 AND expires_at > 0 AND expires_at < $1
			AND NOT EXISTS (SELECT 1 FROM tokens WHERE tokens.client_id = clients.id)
			AND NOT EXISTS (SELECT 1 FROM consents WHERE consents.client_id = clients.id)`,
			[]any{cutoff, storage.SourceCIMD}},
	}
	if txFrom(ctx) != nil {
		err := s.inTx(ctx, func(q querier) error {
			for _, st := range steps {
				tag, err := q.Exec(ctx, `DELETE FROM `+st.table+` WHERE `+st.where, st.args...)
				if err != nil {
					return err
				}
				*st.n = tag.RowsAffected()
			}
			return nil
		})
		if err != nil {
			return storage.GCResult{}, wrap("garbage collect", err)
		}
		return r, nil
	}
	for _, st := range steps {
		// SKIP LOCKED: a row another transaction holds is left for the
		// next sweep rather than waited for.
		query := `DELETE FROM ` + st.table + ` WHERE ` + st.key + ` IN (SELECT ` + strings.Trim(st.key, "()") + ` FROM ` + st.table +
			` WHERE ` + st.where + ` LIMIT ` + strconv.Itoa(gcBatch) + ` FOR UPDATE SKIP LOCKED)`
		for {
			if err := ctx.Err(); err != nil {
				return r, wrap("garbage collect", err)
			}
			tag, err := s.q(ctx).Exec(ctx, query, st.args...)
			*st.n += tag.RowsAffected()
			if err != nil {
				return r, wrap("garbage collect", err)
			}
			if tag.RowsAffected() < gcBatch {
				break
			}
		}
	}
	return r, nil
}
