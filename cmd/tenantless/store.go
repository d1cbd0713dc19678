package main

import (
	"context"
	"path/filepath"

	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/storage/postgres"
	"github.com/tenantless/tenantless/storage/sqlite"
)

// dbUsage is the help of the --db flag every command takes.
const dbUsage = "database: a SQLite file, created with mode 0600 if missing, or a postgres:// (postgresql://) URL that several instances can share (env TENANTLESS_DB)"

// openStore opens the database --db names: PostgreSQL for a postgres:// or
// postgresql:// URL, else the SQLite file at that path.
func openStore(ctx context.Context, db string) (storage.Store, error) {
	if postgres.IsURL(db) {
		return postgres.Open(ctx, postgres.Config{URL: db})
	}
	return sqlite.Open(ctx, sqlite.Config{Path: db})
}

// dbName is how banners and logs name the database: the SQLite file's
// absolute path, or the PostgreSQL URL without its password.
func dbName(db string) string {
	if postgres.IsURL(db) {
		return postgres.Redact(db)
	}
	if abs, err := filepath.Abs(db); err == nil {
		return abs
	}
	return db
}
