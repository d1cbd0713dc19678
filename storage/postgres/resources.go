package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/tenantless/tenantless/storage"
)

const resourceColumns = `url, aliases, name, description, scopes, scope_descriptions, source, created_at, updated_at`

// CreateResource stores a new resource; ErrConflict if its URL is taken.
func (s *Store) CreateResource(ctx context.Context, r storage.Resource) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO resources (`+resourceColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		r.URL, list(r.Aliases), r.Name, r.Description, list(r.Scopes), jsonMap(r.ScopeDescriptions), r.Source,
		unixTime(r.CreatedAt), unixTime(r.UpdatedAt))
	return wrap("create resource", err)
}

// PutResource creates or replaces the resource with r's URL, keeping the
// original CreatedAt when it replaces one.
func (s *Store) PutResource(ctx context.Context, r storage.Resource) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO resources (`+resourceColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (url) DO UPDATE SET
			aliases = excluded.aliases, name = excluded.name, description = excluded.description,
			scopes = excluded.scopes, scope_descriptions = excluded.scope_descriptions,
			source = excluded.source, updated_at = excluded.updated_at`,
		r.URL, list(r.Aliases), r.Name, r.Description, list(r.Scopes), jsonMap(r.ScopeDescriptions), r.Source,
		unixTime(r.CreatedAt), unixTime(r.UpdatedAt))
	return wrap("put resource", err)
}

// GetResource returns a resource by URL, or ErrNotFound.
func (s *Store) GetResource(ctx context.Context, url string) (storage.Resource, error) {
	r, err := scanResource(s.q(ctx).QueryRow(ctx, `SELECT `+resourceColumns+` FROM resources WHERE url = $1`, url))
	return r, wrap("get resource", err)
}

// ListResources returns every resource ordered by creation time, then URL.
func (s *Store) ListResources(ctx context.Context) ([]storage.Resource, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+resourceColumns+` FROM resources ORDER BY created_at, url`)
	if err != nil {
		return nil, wrap("list resources", err)
	}
	l, err := collect(rows, scanResource)
	return l, wrap("list resources", err)
}

// DeleteResource removes a resource; ErrNotFound if it does not exist.
func (s *Store) DeleteResource(ctx context.Context, url string) error {
	return wrap("delete resource", affectOne(s.q(ctx).Exec(ctx, `DELETE FROM resources WHERE url = $1`, url)))
}

// RevokeResourceGrants deletes the access tokens and codes of a resource
// and deactivates its refresh tokens, in one transaction, and returns the
// request IDs of the grants it changed, sorted. The tokens table has no
// index on resource: this operator command scans it.
func (s *Store) RevokeResourceGrants(ctx context.Context, resource string) ([]string, error) {
	var ids []string
	err := s.inTx(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `SELECT DISTINCT request_id FROM tokens
			WHERE resource = $1 AND (kind IN ('access', 'code', 'pkce') OR (kind = 'refresh' AND active))
			ORDER BY request_id`, resource)
		if err != nil {
			return err
		}
		if ids, err = collect(rows, func(r pgx.Row) (string, error) {
			var id string
			return id, r.Scan(&id)
		}); err != nil {
			return err
		}
		if _, err := q.Exec(ctx,
			`DELETE FROM tokens WHERE resource = $1 AND kind IN ('access', 'code', 'pkce')`, resource); err != nil {
			return err
		}
		_, err = q.Exec(ctx, `UPDATE tokens SET active = false WHERE resource = $1 AND kind = 'refresh' AND active`, resource)
		return err
	})
	if err != nil {
		return nil, wrap("revoke resource grants", err)
	}
	return slices.Compact(ids), nil
}

func scanResource(r pgx.Row) (storage.Resource, error) {
	var (
		res              storage.Resource
		descs            string
		created, updated int64
	)
	if err := r.Scan(&res.URL, &res.Aliases, &res.Name, &res.Description, &res.Scopes, &descs, &res.Source,
		&created, &updated); err != nil {
		return storage.Resource{}, err
	}
	res.Aliases, res.Scopes = listOrNil(res.Aliases), listOrNil(res.Scopes)
	if err := json.Unmarshal([]byte(descs), &res.ScopeDescriptions); err != nil {
		return storage.Resource{}, fmt.Errorf("decode scope descriptions %q: %w", descs, err)
	}
	if len(res.ScopeDescriptions) == 0 {
		res.ScopeDescriptions = nil
	}
	res.CreatedAt, res.UpdatedAt = timeUnix(created), timeUnix(updated)
	return res, nil
}

// jsonMap encodes a string map as a JSON object; nil is "{}".
func jsonMap(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map[string]string always marshals
	return string(b)
}
