package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tenantless/tenantless/storage"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// txKey is the context key of the *sql.Tx that BeginTx starts.
type txKey struct{}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func txFrom(ctx context.Context) *sql.Tx {
	tx, _ := ctx.Value(txKey{}).(*sql.Tx)
	return tx
}

// reader returns where a plain read runs: the context's transaction, else
// the reader pool.
func (s *Store) reader(ctx context.Context) querier {
	if tx := txFrom(ctx); tx != nil {
		return cachedTx{tx, s.wc}
	}
	return s.rc
}

// writer returns where a single-statement write runs: the context's
// transaction, else the writer pool.
func (s *Store) writer(ctx context.Context) querier {
	if tx := txFrom(ctx); tx != nil {
		return cachedTx{tx, s.wc}
	}
	return s.wc
}

// inTx runs fn in one transaction: a savepoint inside the context's
// transaction if there is one, so that a failing fn leaves the caller's
// transaction as it was, else a new immediate transaction on the writer.
func (s *Store) inTx(ctx context.Context, fn func(q querier) error) (err error) {
	if tx := txFrom(ctx); tx != nil {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT store_method`); err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		if err := fn(cachedTx{tx, s.wc}); err != nil {
			// Both statements are needed: ROLLBACK TO undoes the work but
			// leaves the savepoint open.
			if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO store_method; RELEASE store_method`); rerr != nil {
				return errors.Join(err, fmt.Errorf("roll back savepoint: %w", rerr))
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, `RELEASE store_method`); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(cachedTx{tx, s.wc}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// BeginTx starts an immediate transaction on the writer connection and
// returns a context carrying it. Until Commit or Rollback, every other
// writer waits, so keep the transaction short and call every method with the
// returned context. Transactions do not nest.
func (s *Store) BeginTx(ctx context.Context) (context.Context, error) {
	if txFrom(ctx) != nil {
		return nil, errors.New("begin transaction: the context already carries one; transactions do not nest")
	}
	tx, err := s.w.BeginTx(ctx, nil)
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
	if err := tx.Commit(); err != nil {
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
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// mapErr turns driver errors into the storage sentinels, keeping the
// original in the chain for its message: sql.ErrNoRows is ErrNotFound, a
// taken primary or unique key is ErrConflict, and a foreign key that names
// a missing user or client is ErrNotFound.
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
