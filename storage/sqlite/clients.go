package sqlite

import (
	"context"
	"errors"
	"time"

	"github.com/tenantless/tenantless/storage"
)

const clientColumns = `id, secret_hash, name, redirect_uris, grant_types, response_types, scopes,
	token_endpoint_auth_method, source, metadata, registration_token_hash,
	created_at, updated_at, expires_at, last_used_at`

// CreateClient stores a new client; ErrConflict if the ID is taken.
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	_, err := s.writer(ctx).ExecContext(ctx, `INSERT INTO clients (`+clientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, nullBytes(c.SecretHash), c.Name, jsonList(c.RedirectURIs), jsonList(c.GrantTypes),
		jsonList(c.ResponseTypes), jsonList(c.Scopes), c.TokenEndpointAuthMethod, c.Source,
		nullBytes(c.Metadata), nullBytes(c.RegistrationTokenHash),
		unixTime(c.CreatedAt), unixTime(c.UpdatedAt), unixTime(c.ExpiresAt), unixTime(c.LastUsedAt))
	return wrap("create client", err)
}

// GetClient returns a client by ID, or ErrNotFound.
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	c, err := scanClient(s.reader(ctx).QueryRowContext(ctx,
		`SELECT `+clientColumns+` FROM clients WHERE id = ?`, id))
	return c, wrap("get client", err)
}

// UpdateClient replaces every field of an existing client but ID and
// CreatedAt; ErrNotFound if it does not exist.
func (s *Store) UpdateClient(ctx context.Context, c storage.Client) error {
	res, err := s.writer(ctx).ExecContext(ctx, `UPDATE clients SET
		secret_hash = ?, name = ?, redirect_uris = ?, grant_types = ?, response_types = ?, scopes = ?,
		token_endpoint_auth_method = ?, source = ?, metadata = ?, registration_token_hash = ?,
		updated_at = ?, expires_at = ?, last_used_at = ?
		WHERE id = ?`,
		nullBytes(c.SecretHash), c.Name, jsonList(c.RedirectURIs), jsonList(c.GrantTypes),
		jsonList(c.ResponseTypes), jsonList(c.Scopes), c.TokenEndpointAuthMethod, c.Source,
		nullBytes(c.Metadata), nullBytes(c.RegistrationTokenHash),
		unixTime(c.UpdatedAt), unixTime(c.ExpiresAt), unixTime(c.LastUsedAt), c.ID)
	if err == nil {
		err = affectOne(res)
	}
	return wrap("update client", err)
}

// ListClients returns all clients ordered by creation time, then ID.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	rows, err := s.reader(ctx).QueryContext(ctx,
		`SELECT `+clientColumns+` FROM clients ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list clients", err)
	}
	defer rows.Close()
	var list []storage.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, wrap("list clients", err)
		}
		list = append(list, c)
	}
	return list, wrap("list clients", rows.Err())
}

// DeleteClient removes a client with its consents (by foreign key) and its
// tokens; ErrNotFound if it does not exist.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return wrap("delete client", s.inTx(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if err := affectOne(res); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, `DELETE FROM tokens WHERE client_id = ?`, id)
		return err
	}))
}

// DeleteUnusedClients removes, in one transaction, the clients of source
// that hold no live grant and were either never used and created before
// neverUsedBefore, or last used before lastUsedBefore, with their consents
// (by foreign key) and all their token rows, as DeleteClient does. It
// returns the removed IDs sorted, nil if none.
//
// A live grant is an active access or refresh row whose expires_at is 0 or
// not before now: a row expiring at now has not expired yet, as in
// GarbageCollect. An active, unexpired authorization code counts too: it
// is a sign-in in progress, whose token request must still find its
// client. PKCE rows hold nothing. A zero cutoff is 0, so it selects
// nothing on its side.
func (s *Store) DeleteUnusedClients(ctx context.Context, source string, neverUsedBefore, lastUsedBefore, now time.Time) ([]string, error) {
	var ids []string
	err := s.inTx(ctx, func(q querier) error {
		var err error
		// The two halves of the union are each one range of the index
		// clients_source_last_used_at; written as an OR, SQLite scans every
		// client of the source.
		ids, err = queryIDs(ctx, q, `WITH candidates (id) AS (
				SELECT id FROM clients WHERE source = ?1 AND last_used_at = 0 AND created_at < ?2
				UNION ALL
				SELECT id FROM clients WHERE source = ?1 AND last_used_at > 0 AND last_used_at < ?3)
			SELECT id FROM candidates
			WHERE NOT EXISTS (SELECT 1 FROM tokens
				WHERE tokens.client_id = candidates.id AND kind IN ('code', 'access', 'refresh') AND active = 1
					AND (expires_at = 0 OR expires_at >= ?4))
			ORDER BY id`,
			source, unixTime(neverUsedBefore), unixTime(lastUsedBefore), now.Unix())
		if err != nil || len(ids) == 0 {
			return err
		}
		// The IDs are bound as one JSON array: two statements however many
		// clients go.
		list := jsonList(ids)
		if _, err := q.ExecContext(ctx,
			`DELETE FROM tokens WHERE client_id IN (SELECT value FROM json_each(?))`, list); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, `DELETE FROM clients WHERE id IN (SELECT value FROM json_each(?))`, list)
		return err
	})
	if err != nil {
		return nil, wrap("delete unused clients", err)
	}
	return ids, nil
}

// queryIDs returns the single text column of every row query selects.
func queryIDs(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// TouchClient sets LastUsedAt; ErrNotFound if the client does not exist.
func (s *Store) TouchClient(ctx context.Context, id string, at time.Time) error {
	res, err := s.writer(ctx).ExecContext(ctx,
		`UPDATE clients SET last_used_at = ? WHERE id = ?`, unixTime(at), id)
	if err == nil {
		err = affectOne(res)
	}
	return wrap("touch client", err)
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

func scanClient(sc scanner) (storage.Client, error) {
	var (
		c                                         storage.Client
		redirectURIs, grantTypes, respTypes, scps string
		created, updated, expires, lastUsed       int64
	)
	if err := sc.Scan(&c.ID, &c.SecretHash, &c.Name, &redirectURIs, &grantTypes, &respTypes, &scps,
		&c.TokenEndpointAuthMethod, &c.Source, &c.Metadata, &c.RegistrationTokenHash,
		&created, &updated, &expires, &lastUsed); err != nil {
		return storage.Client{}, err
	}
	var errs []error
	decode := func(dst *[]string, src string) {
		l, err := listJSON(src)
		errs = append(errs, err)
		*dst = l
	}
	decode(&c.RedirectURIs, redirectURIs)
	decode(&c.GrantTypes, grantTypes)
	decode(&c.ResponseTypes, respTypes)
	decode(&c.Scopes, scps)
	if err := errors.Join(errs...); err != nil {
		return storage.Client{}, err
	}
	c.SecretHash = bytesOrNil(c.SecretHash)
	c.Metadata = bytesOrNil(c.Metadata)
	c.RegistrationTokenHash = bytesOrNil(c.RegistrationTokenHash)
	c.CreatedAt, c.UpdatedAt = timeUnix(created), timeUnix(updated)
	c.ExpiresAt, c.LastUsedAt = timeUnix(expires), timeUnix(lastUsed)
	return c, nil
}
