package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"time"

	"github.com/tenantless/tenantless/migrations"
)

// migrationName is NNNN_description.sql; NNNN is the schema version.
var migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

// migration is one parsed migration file.
type migration struct {
	version int
	name    string
}

// migrate applies the embedded migrations to the database behind w, the
// writer pool.
func migrate(ctx context.Context, w *sql.DB) error {
	return applyMigrations(ctx, w, migrations.FS)
}

// applyMigrations applies every NNNN_description.sql file at the root of
// fsys that schema_migrations does not list yet, in version order, each in
// its own transaction with its record. BEGIN IMMEDIATE (the writer's
// _txlock) makes two processes starting at once apply each file once.
func applyMigrations(ctx context.Context, w *sql.DB, fsys fs.FS) error {
	list, err := readMigrations(fsys)
	if err != nil {
		return err
	}
	if _, err := w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var newest sql.NullInt64
	if err := w.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if len(list) > 0 && newest.Valid && newest.Int64 > int64(list[len(list)-1].version) {
		return fmt.Errorf("database schema version %d is newer than this program knows (%d); run a newer tenantless",
			newest.Int64, list[len(list)-1].version)
	}
	for _, m := range list {
		if err := applyMigration(ctx, w, fsys, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// readMigrations lists the migration files of fsys in version order and
// rejects names that do not fit the pattern and repeated versions.
func readMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".") // sorted by name, so by version
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

func applyMigration(ctx context.Context, w *sql.DB, fsys fs.FS, m migration) (err error) {
	body, err := fs.ReadFile(fsys, m.name)
	if err != nil {
		return err
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return tx.Rollback()
	}
	// Without arguments, one ExecContext runs every statement of the file.
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, time.Now().Unix()); err != nil {
		return err
	}
	return tx.Commit()
}
