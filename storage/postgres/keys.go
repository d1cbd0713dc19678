package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantless/tenantless/storage"
)

// CreateSigningKey stores a new signing key; ErrConflict if the ID is taken.
func (s *Store) CreateSigningKey(ctx context.Context, k storage.SigningKey) error {
	_, err := s.q(ctx).Exec(ctx,
		`INSERT INTO signing_keys (id, algorithm, private_key, created_at, retired_at) VALUES ($1, $2, $3, $4, $5)`,
		k.ID, k.Algorithm, k.PrivateKey, unixTime(k.CreatedAt), unixTime(k.RetiredAt))
	return wrap("create signing key", err)
}

// ListSigningKeys returns every signing key, newest first (by CreatedAt,
// then ID descending).
func (s *Store) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT id, algorithm, private_key, created_at, retired_at FROM signing_keys
		ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, wrap("list signing keys", err)
	}
	l, err := collect(rows, func(r pgx.Row) (storage.SigningKey, error) {
		var (
			k                storage.SigningKey
			created, retired int64
		)
		err := r.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &created, &retired)
		k.CreatedAt, k.RetiredAt = timeUnix(created), timeUnix(retired)
		return k, err
	})
	return l, wrap("list signing keys", err)
}

// RetireSigningKey sets RetiredAt on a key; ErrNotFound if it does not exist.
func (s *Store) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	err := affectOne(s.q(ctx).Exec(ctx, `UPDATE signing_keys SET retired_at = $1 WHERE id = $2`, unixTime(at), id))
	return wrap("retire signing key", err)
}

// DeleteSigningKey removes a key; ErrNotFound if it does not exist.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	err := affectOne(s.q(ctx).Exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id))
	return wrap("delete signing key", err)
}

// EnsureSecret returns the secret stored under name, storing value first if
// there is none. A concurrent insert of the same name waits on the key's
// index entry for the first one to commit, and then reads its value.
func (s *Store) EnsureSecret(ctx context.Context, name string, value []byte) ([]byte, error) {
	if len(value) == 0 {
		return nil, errors.New("ensure secret: empty value")
	}
	var stored []byte
	err := s.inTx(ctx, func(q querier) error {
		if _, err := q.Exec(ctx,
			`INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
			return err
		}
		return q.QueryRow(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&stored)
	})
	if err != nil {
		return nil, wrap("ensure secret", err)
	}
	return stored, nil
}
