package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/storage/sqlite"
)

// openStore opens the database of --db. A command that only reads
// (readOnly) never creates one: a path that does not exist is an error
// that says how to create it.
func openStore(ctx context.Context, path string, readOnly bool) (*sqlite.Store, error) {
	return openStoreLogged(ctx, path, readOnly, nil)
}

// openStoreLogged is openStore with log receiving the errors of the
// store's background work (the WAL checkpointer), for serve.
func openStoreLogged(ctx context.Context, path string, readOnly bool, log *slog.Logger) (*sqlite.Store, error) {
	switch path {
	case "":
		return nil, usagef("--db is empty: give the path of the database file, for example ./tenantless.db")
	case ":memory:":
		return nil, usagef("--db :memory: is not supported: the database is a file that serve and these commands share; give its path, for example ./tenantless.db")
	}
	if readOnly && !strings.Contains(path, "://") {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s: start the server once to create it (tenantless serve --db %s), or give the path of an existing one with --db", path, path)
		}
	}
	return sqlite.Open(ctx, sqlite.Config{Path: path, Logger: log})
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
