package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/storage/postgres"
	"github.com/tenantless/tenantless/storage/sqlite"
)

// dbUsage is the help of the --db flag every command takes.
const dbUsage = "database: a SQLite file (serve and the commands that change something create it, mode 0600, if missing), or a postgres:// (postgresql://) URL that several instances can share (env TENANTLESS_DB)"

// openStore opens the database --db names: PostgreSQL for a postgres://
// or postgresql:// URL, else the SQLite file at that path. A command that
// only reads (readOnly) never creates a SQLite file: a path that does not
// exist is an error that says how to create it.
func openStore(ctx context.Context, db string, readOnly bool) (storage.Store, error) {
	return openStoreLogged(ctx, db, readOnly, nil)
}

// openStoreLogged is openStore with log receiving the errors of the
// store's background work (the WAL checkpointer), for serve.
func openStoreLogged(ctx context.Context, db string, readOnly bool, log *slog.Logger) (storage.Store, error) {
	if postgres.IsURL(db) {
		return postgres.Open(ctx, postgres.Config{URL: db})
	}
	switch db {
	case "":
		return nil, usagef("--db is empty: give the path of the database file, for example ./tenantless.db")
	case ":memory:":
		return nil, usagef("--db :memory: is not supported: the database is a file that serve and these commands share; give its path, for example ./tenantless.db")
	}
	if readOnly {
		if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s: start the server once to create it (tenantless serve --db %s), or give the path of an existing one with --db", db, db)
		}
	}
	return sqlite.Open(ctx, sqlite.Config{Path: db, Logger: log})
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

// change runs fn, an administrator's change, in one transaction with its
// audit event: actor "cli", outcome "success" and the time filled in. The
// change is stored with its event or not at all.
func change(ctx context.Context, st storage.Store, ev storage.AuditEvent, fn func(tx context.Context) error) error {
	tx, err := st.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = st.Rollback(tx) }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := st.AppendAudit(tx, cliEvent(ev)); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	return st.Commit(tx)
}

// cliEvent completes an audit event of the command line.
func cliEvent(ev storage.AuditEvent) storage.AuditEvent {
	ev.Actor = storage.ActorCLI
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	if ev.Outcome == "" {
		ev.Outcome = "success"
	}
	return ev
}
