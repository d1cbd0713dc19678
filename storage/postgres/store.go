package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantless/tenantless/storage"
)

// defaultConnectTimeout bounds a connection attempt when the URL sets no
// connect_timeout, so that a database that does not answer fails requests
// (503) instead of hanging them.
const defaultConnectTimeout = 5 * time.Second

// Config says which database Open opens.
type Config struct {
	// URL is a libpq connection URL or keyword/value string, e.g.
	// "postgres://tenantless:secret@db.internal:5432/tenantless". pgxpool's
	// parameters (pool_max_conns, ...) and runtime parameters such as
	// search_path may be given in it. The schema it uses (the first of
	// search_path, by default "public") must exist. Required.
	URL string
}

// Store is a storage.Store on a PostgreSQL database. It is safe for
// concurrent use, by any number of processes on one database.
type Store struct {
	pool *pgxpool.Pool
	// connCfg opens the store's own connections outside the pool: the
	// migration runner's, the watch's and the exclusive jobs'.
	connCfg *pgx.ConnConfig
	// schema is the schema the connections use, which names the change
	// channel.
	schema    string
	closeOnce sync.Once
}

var (
	_ storage.Store     = (*Store)(nil)
	_ storage.Watcher   = (*Store)(nil)
	_ storage.Exclusive = (*Store)(nil)
)

// IsURL reports whether s names a PostgreSQL database (a postgres:// or
// postgresql:// URL) rather than a SQLite file.
func IsURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// Open connects to the database cfg names, applies the migrations that
// have not run yet and returns the store. Close releases it.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, errors.New("open database: no PostgreSQL URL given")
	}
	name := redact(cfg.URL)
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// pgx's parse errors quote the URL, password included.
		return nil, fmt.Errorf("open database %s: the URL cannot be parsed; check its syntax (postgres://user:password@host:port/database)", name)
	}
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		pcfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	s := &Store{connCfg: pcfg.ConnConfig.Copy()}
	fail := func(err error) (*Store, error) {
		s.Close()
		return nil, fmt.Errorf("open database %s: %w", name, mapErr(err))
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fail(err)
	}
	var schema *string
	if err := s.pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		if errors.Is(mapErr(err), storage.ErrUnavailable) {
			return fail(fmt.Errorf("%w (is PostgreSQL running there, and are the URL's host, port, user and password right?)", err))
		}
		return fail(err)
	}
	if schema != nil {
		s.schema = *schema
	}
	if s.schema == "" {
		return fail(errors.New("no schema: the first schema of search_path does not exist; create it (CREATE SCHEMA ...) or fix search_path"))
	}
	if err := s.migrate(ctx); err != nil {
		return fail(err)
	}
	return s, nil
}

// redact returns u with any password replaced, for messages and logs.
func redact(u string) string {
	if p, err := url.Parse(u); err == nil && p.User != nil {
		if _, ok := p.User.Password(); ok {
			p.User = url.UserPassword(p.User.Username(), "xxxxx")
		}
		return p.String()
	}
	if IsURL(u) {
		return "(a PostgreSQL URL)"
	}
	return "(a PostgreSQL connection string)"
}

// Redact returns the database URL u with its password replaced, for
// banners and logs.
func Redact(u string) string { return redact(u) }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping", s.pool.Ping(ctx))
}

// Close closes the pool. Calling it again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.pool != nil {
			s.pool.Close()
		}
	})
	return nil
}

// connect opens a connection of the store's own, outside the pool.
func (s *Store) connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.ConnectConfig(ctx, s.connCfg)
}
