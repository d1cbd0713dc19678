package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantless/tenantless/migrations"
)

// migrationName is NNNN_description.sql; NNNN is the schema version.
var migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

type migration struct {
	version int
	name    string
}

// migrate applies the embedded PostgreSQL migrations.
func (s *Store) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations.PostgresFS, "postgres")
	if err != nil {
		return err
	}
	return s.applyMigrations(ctx, fsys)
}

// applyMigrations applies every migration file of fsys that
// schema_migrations does not list yet, in version order, each in its own
// transaction with its record. It holds a session advisory lock, keyed by
// the schema, from before it reads schema_migrations until it is done, on
// a connection of its own that it closes at the end (which releases the
// lock whatever happened): instances starting together wait for the first
// one and then find nothing to apply.
func (s *Store) applyMigrations(ctx context.Context, fsys fs.FS) error {
	list, err := readMigrations(fsys)
	if err != nil {
		return err
	}
	conn, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext('tenantless.migrate.' || current_schema()))`); err != nil {
		return fmt.Errorf("wait for the migration lock: %w", err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer NOT NULL PRIMARY KEY,
		name       text    NOT NULL,
		applied_at bigint  NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var newest *int64
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if len(list) > 0 && newest != nil && *newest > int64(list[len(list)-1].version) {
		return fmt.Errorf("database schema version %d is newer than this program knows (%d); run a newer tenantless",
			*newest, list[len(list)-1].version)
	}
	for _, m := range list {
		if err := applyMigration(ctx, conn, fsys, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// readMigrations lists the migration files of fsys in version order and
// rejects names that do not fit the pattern and repeated versions.
func readMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var list []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			return nil, fmt.Errorf("migration file %q: name must look like 0001_description.sql", e.Name())
		}
		v, err := strconv.Atoi(m[1])
		if err != nil || v == 0 {
			return nil, fmt.Errorf("migration file %q: version must be 0001 or more", e.Name())
		}
		if len(list) > 0 && list[len(list)-1].version == v {
			return nil, fmt.Errorf("migration files %q and %q have the same version", list[len(list)-1].name, e.Name())
		}
		list = append(list, migration{version: v, name: e.Name()})
	}
	return list, nil
}

func applyMigration(ctx context.Context, conn *pgx.Conn, fsys fs.FS, m migration) (err error) {
	body, err := fs.ReadFile(fsys, m.name)
	if err != nil {
		return err
	}
	var done bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version).Scan(&done); err != nil {
		return err
	}
	if done {
		return nil
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	// Without arguments, Exec sends the file as one simple query, which
	// may hold many statements.
	if _, err := tx.Exec(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.version, m.name, time.Now().Unix()); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return errors.Join(errors.New("commit"), err)
	}
	return nil
}
