package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantless/tenantless/storage"
)

const clientColumns = `id, secret_hash, name, redirect_uris, grant_types, response_types, scopes,
	token_endpoint_auth_method, source, metadata, registration_token_hash,
	created_at, updated_at, expires_at, last_used_at`

// CreateClient stores a new client; ErrConflict if the ID is taken.
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO clients (`+clientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		c.ID, nullBytes(c.SecretHash), c.Name, list(c.RedirectURIs), list(c.GrantTypes),
		list(c.ResponseTypes), list(c.Scopes), c.TokenEndpointAuthMethod, c.Source,
		nullBytes(c.Metadata), nullBytes(c.RegistrationTokenHash),
		unixTime(c.CreatedAt), unixTime(c.UpdatedAt), unixTime(c.ExpiresAt), unixTime(c.LastUsedAt))
	return wrap("create client", err)
}

// GetClient returns a client by ID, or ErrNotFound.
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	c, err := scanClient(s.q(ctx).QueryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1`, id))
	return c, wrap("get client", err)
}

// UpdateClient replaces every field of an existing client but ID and
// CreatedAt; ErrNotFound if it does not exist.
func (s *Store) UpdateClient(ctx context.Context, c storage.Client) error {
	err := affectOne(s.q(ctx).Exec(ctx, `UPDATE clients SET
		secret_hash = $1, name = $2, redirect_uris = $3, grant_types = $4, response_types = $5, scopes = $6,
		token_endpoint_auth_method = $7, source = $8, metadata = $9, registration_token_hash = $10,
		updated_at = $11, expires_at = $12, last_used_at = $13
		WHERE id = $14`,
		nullBytes(c.SecretHash), c.Name, list(c.RedirectURIs), list(c.GrantTypes),
		list(c.ResponseTypes), list(c.Scopes), c.TokenEndpointAuthMethod, c.Source,
		nullBytes(c.Metadata), nullBytes(c.RegistrationTokenHash),
		unixTime(c.UpdatedAt), unixTime(c.ExpiresAt), unixTime(c.LastUsedAt), c.ID))
	return wrap("update client", err)
}

// ListClients returns all clients ordered by creation time, then ID.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+clientColumns+` FROM clients ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list clients", err)
	}
	l, err := collect(rows, scanClient)
	return l, wrap("list clients", err)
}

// DeleteClient removes a client with its consents (by foreign key) and its
// tokens; ErrNotFound if it does not exist.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return wrap("delete client", s.inTx(ctx, func(q querier) error {
		if err := affectOne(q.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)); err != nil {
			return err
		}
		_, err := q.Exec(ctx, `DELETE FROM tokens WHERE client_id = $1`, id)
		return err
	}))
}

// DeleteUnusedClients removes, in one transaction, the clients of source
// that hold no live grant and were either never used and created before
// neverUsedBefore, or last used before lastUsedBefore, with their consents
// (by foreign key) and all their token rows, as DeleteClient does. It
// returns the removed IDs sorted, nil if none.
//
// A live grant is an active access or refresh row, or an active
// authorization code (a sign-in in progress), whose expires_at is 0 or
// not before now. The transaction first locks the token table against
// writes (SHARE mode: reads go on), so that no token can be issued to a
// client between the check and the delete, which under READ COMMITTED
// would otherwise delete a grant issued a moment before; when no client
// qualifies it takes no lock at all.
func (s *Store) DeleteUnusedClients(ctx context.Context, source string, neverUsedBefore, lastUsedBefore, now time.Time) ([]string, error) {
	const candidates = `WITH candidates (id) AS (
			SELECT id FROM clients WHERE source = $1 AND last_used_at = 0 AND created_at < $2
			UNION ALL
			SELECT id FROM clients WHERE source = $1 AND last_used_at > 0 AND last_used_at < $3)
		SELECT id FROM candidates
		WHERE NOT EXISTS (SELECT 1 FROM tokens
			WHERE tokens.client_id = candidates.id AND kind IN ('code', 'access', 'refresh') AND active
				AND (expires_at = 0 OR expires_at >= $4))
		ORDER BY id`
	args := []any{source, unixTime(neverUsedBefore), unixTime(lastUsedBefore), now.Unix()}
	if txFrom(ctx) == nil {
		ids, err := queryIDs(ctx, s.q(ctx), candidates, args...)
		if err != nil {
			return nil, wrap("delete unused clients", err)
		}
		if len(ids) == 0 {
			return nil, nil
		}
	}
	var ids []string
	err := s.inTx(ctx, func(q querier) error {
		ids = nil
		if _, err := q.Exec(ctx, `LOCK TABLE tokens IN SHARE MODE`); err != nil {
			return err
		}
		var err error
		ids, err = queryIDs(ctx, q, candidates, args...)
		if err != nil || len(ids) == 0 {
			return err
		}
		if _, err := q.Exec(ctx, `DELETE FROM tokens WHERE client_id = ANY($1)`, ids); err != nil {
			return err
		}
		_, err = q.Exec(ctx, `DELETE FROM clients WHERE id = ANY($1)`, ids)
		return err
	})
	if err != nil {
		return nil, wrap("delete unused clients", err)
	}
	return ids, nil
}

// queryIDs returns the single text column of every row query selects.
func queryIDs(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.Row) (string, error) {
		var id string
		err := r.Scan(&id)
		return id, err
	})
}

// collect scans every row and closes rows.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var l []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		l = append(l, v)
	}
	return l, rows.Err()
}

// TouchClient sets LastUsedAt; ErrNotFound if the client does not exist.
func (s *Store) TouchClient(ctx context.Context, id string, at time.Time) error {
	err := affectOne(s.q(ctx).Exec(ctx, `UPDATE clients SET last_used_at = $1 WHERE id = $2`, unixTime(at), id))
	return wrap("touch client", err)
}

func scanClient(r pgx.Row) (storage.Client, error) {
	var (
		c                                   storage.Client
		created, updated, expires, lastUsed int64
	)
	if err := r.Scan(&c.ID, &c.SecretHash, &c.Name, &c.RedirectURIs, &c.GrantTypes, &c.ResponseTypes, &c.Scopes,
		&c.TokenEndpointAuthMethod, &c.Source, &c.Metadata, &c.RegistrationTokenHash,
		&created, &updated, &expires, &lastUsed); err != nil {
		return storage.Client{}, err
	}
	c.RedirectURIs, c.GrantTypes = listOrNil(c.RedirectURIs), listOrNil(c.GrantTypes)
	c.ResponseTypes, c.Scopes = listOrNil(c.ResponseTypes), listOrNil(c.Scopes)
	c.SecretHash = bytesOrNil(c.SecretHash)
	c.Metadata = bytesOrNil(c.Metadata)
	c.RegistrationTokenHash = bytesOrNil(c.RegistrationTokenHash)
	c.CreatedAt, c.UpdatedAt = timeUnix(created), timeUnix(updated)
	c.ExpiresAt, c.LastUsedAt = timeUnix(expires), timeUnix(lastUsed)
	return c, nil
}
