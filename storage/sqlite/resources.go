package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/tenantless/tenantless/storage"
)

const resourceColumns = `url, aliases, name, description, scopes, scope_descriptions, source, created_at, updated_at`

// CreateResource stores a new resource; ErrConflict if its URL is taken.
func (s *Store) CreateResource(ctx context.Context, r storage.Resource) error {
	_, err := s.writer(ctx).ExecContext(ctx, `INSERT INTO resources (`+resourceColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.URL, jsonList(r.Aliases), r.Name, r.Description, jsonList(r.Scopes), jsonMap(r.ScopeDescriptions), r.Source,
		unixTime(r.CreatedAt), unixTime(r.UpdatedAt))
	return wrap("create resource", err)
}

// PutResource creates or replaces the resource with r's URL, keeping the
// original CreatedAt when it replaces one.
func (s *Store) PutResource(ctx context.Context, r storage.Resource) error {
	_, err := s.writer(ctx).ExecContext(ctx, `INSERT INTO resources (`+resourceColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (url) DO UPDATE SET
			aliases = excluded.aliases, name = excluded.name, description = excluded.description,
			scopes = excluded.scopes, scope_descriptions = excluded.scope_descriptions,
			source = excluded.source, updated_at = excluded.updated_at`,
		r.URL, jsonList(r.Aliases), r.Name, r.Description, jsonList(r.Scopes), jsonMap(r.ScopeDescriptions), r.Source,
		unixTime(r.CreatedAt), unixTime(r.UpdatedAt))
	return wrap("put resource", err)
}

// GetResource returns a resource by URL, or ErrNotFound.
func (s *Store) GetResource(ctx context.Context, url string) (storage.Resource, error) {
	r, err := scanResource(s.reader(ctx).QueryRowContext(ctx,
		`SELECT `+resourceColumns+` FROM resources WHERE url = ?`, url))
	return r, wrap("get resource", err)
}

// ListResources returns every resource ordered by creation time, then URL.
func (s *Store) ListResources(ctx context.Context) ([]storage.Resource, error) {
	rows, err := s.reader(ctx).QueryContext(ctx,
		`SELECT `+resourceColumns+` FROM resources ORDER BY created_at, url`)
	if err != nil {
		return nil, wrap("list resources", err)
	}
	defer rows.Close()
	var list []storage.Resource
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return nil, wrap("list resources", err)
		}
		list = append(list, r)
	}
	return list, wrap("list resources", rows.Err())
}

// DeleteResource removes a resource; ErrNotFound if it does not exist.
func (s *Store) DeleteResource(ctx context.Context, url string) error {
	res, err := s.writer(ctx).ExecContext(ctx, `DELETE FROM resources WHERE url = ?`, url)
	if err == nil {
		err = affectOne(res)
	}
	return wrap("delete resource", err)
}

// RevokeResourceGrants deletes the access tokens and codes of a resource
// and deactivates its refresh tokens, in one transaction, and returns the
// request IDs of the grants it changed, sorted. The tokens table has no
// index on resource (see migration 0008): this operator command scans it.
func (s *Store) RevokeResourceGrants(ctx context.Context, resource string) ([]string, error) {
	var ids []string
	err := s.inTx(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT DISTINCT request_id FROM tokens
			WHERE resource = ? AND (kind IN ('access', 'code', 'pkce') OR (kind = 'refresh' AND active = 1))
			ORDER BY request_id`, resource)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx,
			`DELETE FROM tokens WHERE resource = ? AND kind IN ('access', 'code', 'pkce')`, resource); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx,
			`UPDATE tokens SET active = 0 WHERE resource = ? AND kind = 'refresh' AND active = 1`, resource)
		return err
	})
	if err != nil {
		return nil, wrap("revoke resource grants", err)
	}
	return slices.Compact(ids), nil
}

func scanResource(sc scanner) (storage.Resource, error) {
	var (
		r                      storage.Resource
		aliases, scopes, descs string
		created, updated       int64
	)
	if err := sc.Scan(&r.URL, &aliases, &r.Name, &r.Description, &scopes, &descs, &r.Source, &created, &updated); err != nil {
		return storage.Resource{}, err
	}
	var err error
	if r.Aliases, err = listJSON(aliases); err != nil {
		return storage.Resource{}, err
	}
	if r.Scopes, err = listJSON(scopes); err != nil {
		return storage.Resource{}, err
	}
	if err := json.Unmarshal([]byte(descs), &r.ScopeDescriptions); err != nil {
		return storage.Resource{}, fmt.Errorf("decode scope descriptions %q: %w", descs, err)
	}
	if len(r.ScopeDescriptions) == 0 {
		r.ScopeDescriptions = nil
	}
	r.CreatedAt, r.UpdatedAt = timeUnix(created), timeUnix(updated)
	return r, nil
}

// jsonMap encodes a string map as a JSON object; nil is "{}".
func jsonMap(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map[string]string always marshals
	return string(b)
}
