package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/tenantless/tenantless/storage"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// txKey is the context key of the *writeTx that BeginTx starts.
type txKey struct{}

// querier is what *sql.DB, *sql.Tx and the store's statement caches have
// in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// The writer pool has exactly one connection, and the store runs its
// transactions on it with plain BEGIN IMMEDIATE and COMMIT statements,
// prepared once like every other, rather than with database/sql's Tx
// (which prepared both statements afresh and started a goroutine for each
// transaction, a sixth of a registration's CPU). Because database/sql
// hands the connection back to the pool between statements, the store
// keeps its own lock on it, wlock: whoever holds it owns the connection,
// from BEGIN to COMMIT or for one statement outside a transaction. The
// lock is a channel, so writers are served in the order they arrived.

// writeTx is a transaction begun by BeginTx or inTx; it holds s.wlock
// until it ends.
type writeTx struct {
	s    *Store
	mu   sync.Mutex
	done bool
}

func txFrom(ctx context.Context) *writeTx {
	tx, _ := ctx.Value(txKey{}).(*writeTx)
	return tx
}

// errTxDone is what a store method called with the context of an ended
// transaction returns.
var errTxDone = errors.New("the context's transaction has already been committed or rolled back")

// reader returns where a plain read runs: the context's transaction, else
// the reader pool.
func (s *Store) reader(ctx context.Context) querier {
	if tx := txFrom(ctx); tx != nil {
		return tx.querier()
	}
	return s.rc
}

// writer returns where a single-statement write runs: the context's
// transaction, else the writer connection under its lock.
func (s *Store) writer(ctx context.Context) querier {
	if tx := txFrom(ctx); tx != nil {
		return tx.querier()
	}
	return lockedWriter{s}
}

// querier returns where the transaction's statements run: the writer
// connection, whose lock the transaction holds, or, once the transaction
// has ended, nowhere.
func (tx *writeTx) querier() querier {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return endedTx{tx.s}
	}
	return tx.s.wc
}

// lock takes the writer connection, waiting in line; it fails only if ctx
// ends first.
func (s *Store) lock(ctx context.Context) error {
	select {
	case s.wlock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unlock frees the writer connection after a use (checkpoint.go counts
// them).
func (s *Store) unlock() {
	<-s.wlock
	s.ck.wrote()
}

// begin takes the writer connection and starts an immediate transaction.
func (s *Store) begin(ctx context.Context) (*writeTx, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	if _, err := s.wc.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		s.unlock()
		return nil, err
	}
	return &writeTx{s: s}, nil
}

// end commits (commit) or rolls back the transaction and frees the writer
// connection. A failed COMMIT is rolled back, so the connection is never
// left inside a transaction. Ending an ended transaction is errTxDone.
func (tx *writeTx) end(ctx context.Context, commit bool) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return errTxDone
	}
	tx.done = true
	defer tx.s.unlock()
	ctx = statementContext(ctx)
	if commit {
		_, err := tx.s.wc.ExecContext(ctx, `COMMIT`)
		if err == nil {
			return nil
		}
		if _, rerr := tx.s.wc.ExecContext(ctx, `ROLLBACK`); rerr != nil && !noTransaction(rerr) {
			return errors.Join(err, fmt.Errorf("roll back after the failed commit: %w", rerr))
		}
		return err
	}
	if _, err := tx.s.wc.ExecContext(ctx, `ROLLBACK`); err != nil && !noTransaction(err) {
		return err
	}
	return nil
}

// noTransaction reports SQLite's "no transaction is active", which a
// ROLLBACK meets when SQLite has already rolled the transaction back
// itself (after some errors it does).
func noTransaction(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no transaction is active")
}

// inTx runs fn in one transaction: a savepoint inside the context's
// transaction if there is one, so that a failing fn leaves the caller's
// transaction as it was, else a new immediate transaction on the writer.
func (s *Store) inTx(ctx context.Context, fn func(q querier) error) (err error) {
	if tx := txFrom(ctx); tx != nil {
		q := tx.querier()
		if _, err := q.ExecContext(ctx, `SAVEPOINT store_method`); err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		if err := fn(q); err != nil {
			// Both statements are needed: ROLLBACK TO undoes the work but
			// leaves the savepoint open.
			if _, rerr := q.ExecContext(ctx, `ROLLBACK TO store_method`); rerr != nil {
				return errors.Join(err, fmt.Errorf("roll back savepoint: %w", rerr))
			}
			if _, rerr := q.ExecContext(ctx, `RELEASE store_method`); rerr != nil {
				return errors.Join(err, fmt.Errorf("release savepoint: %w", rerr))
			}
			return err
		}
		if _, err := q.ExecContext(ctx, `RELEASE store_method`); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
		return nil
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(s.wc); err != nil {
		if rerr := tx.end(ctx, false); rerr != nil {
			return errors.Join(err, fmt.Errorf("roll back: %w", rerr))
		}
		return err
	}
	if err := tx.end(ctx, true); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// BeginTx starts an immediate transaction on the writer connection and
// returns a context carrying it. Until Commit or Rollback, every other
// writer waits, so keep the transaction short, call every method with the
// returned context, and always end it (defer Rollback). Transactions do
// not nest.
func (s *Store) BeginTx(ctx context.Context) (context.Context, error) {
	if txFrom(ctx) != nil {
		return nil, errors.New("begin transaction: the context already carries one; transactions do not nest")
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	return context.WithValue(ctx, txKey{}, tx), nil
}

// Commit commits the transaction carried by ctx. It fails if ctx carries
// none or the transaction already ended.
func (s *Store) Commit(ctx context.Context) error {
	tx := txFrom(ctx)
	if tx == nil {
		return errors.New("commit: the context carries no transaction")
	}
	if err := tx.end(ctx, true); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Rollback abandons the transaction carried by ctx; it does nothing if the
// transaction already ended, so it can be deferred right after BeginTx. It
// fails if ctx carries no transaction.
func (s *Store) Rollback(ctx context.Context) error {
	tx := txFrom(ctx)
	if tx == nil {
		return errors.New("rollback: the context carries no transaction")
	}
	if err := tx.end(ctx, false); err != nil && !errors.Is(err, errTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// lockedWriter runs one statement on the writer connection under its
// lock: a write outside any transaction, committed on its own. (A query's
// rows keep the connection until they are closed, and database/sql gives
// it to no one else meanwhile, so the lock can be released as soon as
// the statement has started.)
type lockedWriter struct{ s *Store }

func (w lockedWriter) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := w.s.lock(ctx); err != nil {
		return nil, err
	}
	defer w.s.unlock()
	return w.s.wc.ExecContext(ctx, query, args...)
}

func (w lockedWriter) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := w.s.lock(ctx); err != nil {
		return nil, err
	}
	defer w.s.unlock()
	return w.s.wc.QueryContext(ctx, query, args...)
}

func (w lockedWriter) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if err := w.s.lock(ctx); err != nil {
		return w.s.r.QueryRowContext(ctx, query, args...) // ctx has ended: the row carries its error
	}
	defer w.s.unlock()
	return w.s.wc.QueryRowContext(ctx, query, args...)
}

// endedTx is where the statements of an ended transaction go: nowhere.
type endedTx struct{ s *Store }

func (endedTx) ExecContext(context.Context, string, ...any) (sql.Result, error) {
	return nil, errTxDone
}

func (endedTx) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, errTxDone
}

// QueryRowContext returns a row that fails: a *sql.Row cannot be made with
// an error of one's own, so it is a query on an ended context.
func (e endedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ended, cancel := context.WithCancel(ctx)
	cancel()
	return e.s.r.QueryRowContext(ended, query, args...)
}

// mapErr turns driver errors into the storage sentinels, keeping the
// original in the chain for its message: sql.ErrNoRows is ErrNotFound, a
// taken primary or unique key is ErrConflict, a foreign key that names
// a missing user or client is ErrNotFound, and SQLITE_BUSY or
// SQLITE_LOCKED (after the busy timeout) is ErrUnavailable.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("%w: %w", storage.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: referenced record does not exist: %w", storage.ErrNotFound, err)
		}
		// Another process held the database past the busy timeout: the
		// same call may well succeed later.
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
		}
	}
	return err
}

// wrap maps err with mapErr and prefixes the operation; nil stays nil.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, mapErr(err))
}

// affectOne checks that a statement changed a row: none is ErrNotFound.
func affectOne(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}
