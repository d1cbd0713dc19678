package sqlite

import (
	"context"
	"errors"
	"time"

	"github.com/tenantless/tenantless/storage"
)

// CreateSigningKey stores a new signing key; ErrConflict if the ID is taken.
func (s *Store) CreateSigningKey(ctx context.Context, k storage.SigningKey) error {
	_, err := s.writer(ctx).ExecContext(ctx,
		`INSERT INTO signing_keys (id, algorithm, private_key, created_at, retired_at) VALUES (?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, k.PrivateKey, unixTime(k.CreatedAt), unixTime(k.RetiredAt))
	return wrap("create signing key", err)
}

// ListSigningKeys returns every signing key, newest first (by CreatedAt,
// then ID descending).
func (s *Store) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	rows, err := s.reader(ctx).QueryContext(ctx,
		`SELECT id, algorithm, private_key, created_at, retired_at FROM signing_keys
		ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, wrap("list signing keys", err)
	}
	defer rows.Close()
	var list []storage.SigningKey
	for rows.Next() {
		var (
			k                storage.SigningKey
			created, retired int64
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &created, &retired); err != nil {
			return nil, wrap("list signing keys", err)
		}
		k.CreatedAt, k.RetiredAt = timeUnix(created), timeUnix(retired)
		list = append(list, k)
	}
	return list, wrap("list signing keys", rows.Err())
}

// RetireSigningKey sets RetiredAt on a key; ErrNotFound if it does not exist.
func (s *Store) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	res, err := s.writer(ctx).ExecContext(ctx,
		`UPDATE signing_keys SET retired_at = ? WHERE id = ?`, unixTime(at), id)
	if err == nil {
		err = affectOne(res)
	}
	return wrap("retire signing key", err)
}

// DeleteSigningKey removes a key; ErrNotFound if it does not exist.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	res, err := s.writer(ctx).ExecContext(ctx, `DELETE FROM signing_keys WHERE id = ?`, id)
	if err == nil {
		err = affectOne(res)
	}
	return wrap("delete signing key", err)
}

// EnsureSecret returns the secret stored under name, storing value first if
// there is none. The insert and the read share one transaction on the
// single writer, so concurrent callers all get the first stored value.
func (s *Store) EnsureSecret(ctx context.Context, name string, value []byte) ([]byte, error) {
	if len(value) == 0 {
		return nil, errors.New("ensure secret: empty value")
	}
	var stored []byte
	err := s.inTx(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx,
			`INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
			return err
		}
		return q.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&stored)
	})
	if err != nil {
		return nil, wrap("ensure secret", err)
	}
	return stored, nil
}
