package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/tenantless/tenantless/storage"
)

const initialAccessTokenColumns = `hash, note, created_at, expires_at`

// CreateInitialAccessToken stores a token; ErrConflict if Hash is taken.
func (s *Store) CreateInitialAccessToken(ctx context.Context, t storage.InitialAccessToken) error {
	if len(t.Hash) == 0 {
		return errors.New("create initial access token: empty hash")
	}
	_, err := s.q(ctx).Exec(ctx,
		`INSERT INTO initial_access_tokens (`+initialAccessTokenColumns+`) VALUES ($1, $2, $3, $4)`,
		t.Hash, t.Note, unixTime(t.CreatedAt), unixTime(t.ExpiresAt))
	return wrap("create initial access token", err)
}

// GetInitialAccessToken returns a token by hash, or ErrNotFound. It does not
// check expiry.
func (s *Store) GetInitialAccessToken(ctx context.Context, hash []byte) (storage.InitialAccessToken, error) {
	t, err := scanInitialAccessToken(s.q(ctx).QueryRow(ctx,
		`SELECT `+initialAccessTokenColumns+` FROM initial_access_tokens WHERE hash = $1`, hash))
	return t, wrap("get initial access token", err)
}

// ListInitialAccessTokens returns every token, newest first (by CreatedAt,
// then hash descending).
func (s *Store) ListInitialAccessTokens(ctx context.Context) ([]storage.InitialAccessToken, error) {
	rows, err := s.q(ctx).Query(ctx,
		`SELECT `+initialAccessTokenColumns+` FROM initial_access_tokens ORDER BY created_at DESC, hash DESC`)
	if err != nil {
		return nil, wrap("list initial access tokens", err)
	}
	l, err := collect(rows, scanInitialAccessToken)
	return l, wrap("list initial access tokens", err)
}

// DeleteInitialAccessToken removes a token; ErrNotFound if there is none.
func (s *Store) DeleteInitialAccessToken(ctx context.Context, hash []byte) error {
	err := affectOne(s.q(ctx).Exec(ctx, `DELETE FROM initial_access_tokens WHERE hash = $1`, hash))
	return wrap("delete initial access token", err)
}

func scanInitialAccessToken(r pgx.Row) (storage.InitialAccessToken, error) {
	var (
		t                storage.InitialAccessToken
		created, expires int64
	)
	if err := r.Scan(&t.Hash, &t.Note, &created, &expires); err != nil {
		return storage.InitialAccessToken{}, err
	}
	t.CreatedAt, t.ExpiresAt = timeUnix(created), timeUnix(expires)
	return t, nil
}
