package sqlite

import (
	"context"
	"time"

	"github.com/tenantless/tenantless/storage"
)

// GarbageCollect removes, in one transaction, token rows, sessions and
// initial access tokens whose ExpiresAt is before now, then clients of
// source SourceCIMD whose ExpiresAt is before now and that hold no tokens
// (counted after the expired tokens are gone). Rows with a zero ExpiresAt
// (stored as 0) never expire. Consents of removed clients go with them.
func (s *Store) GarbageCollect(ctx context.Context, now time.Time) (storage.GCResult, error) {
	var r storage.GCResult
	cutoff := now.Unix()
	err := s.inTx(ctx, func(q querier) error {
		steps := []struct {
			n     *int64
			query string
			args  []any
		}{
			{&r.Tokens, `DELETE FROM tokens WHERE expires_at > 0 AND expires_at < ?`, []any{cutoff}},
			{&r.Sessions, `DELETE FROM sessions WHERE expires_at > 0 AND expires_at < ?`, []any{cutoff}},
			{&r.InitialAccessTokens, `DELETE FROM initial_access_tokens WHERE expires_at > 0 AND expires_at < ?`, []any{cutoff}},
			{&r.Clients, `DELETE FROM clients WHERE source = ? AND expires_at > 0 AND expires_at < ?
				AND NOT EXISTS (SELECT 1 FROM tokens WHERE tokens.client_id = clients.id)`,
				[]any{storage.SourceCIMD, cutoff}},
		}
		for _, st := range steps {
			res, err := q.ExecContext(ctx, st.query, st.args...)
			if err != nil {
				return err
			}
			if *st.n, err = res.RowsAffected(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return storage.GCResult{}, wrap("garbage collect", err)
	}
	return r, nil
}
