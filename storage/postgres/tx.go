package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantless/tenantless/storage"
)

// txKey is the context key of the *ctxTx that BeginTx starts.
type txKey struct{}

// querier is what the pool and a pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ctxTx is a transaction begun by BeginTx.
type ctxTx struct {
	mu   sync.Mutex
	tx   pgx.Tx
	done bool
}

func txFrom(ctx context.Context) *ctxTx {
	tx, _ := ctx.Value(txKey{}).(*ctxTx)
	return tx
}

// errTxDone is what a store method called with the context of an ended
// transaction returns.
var errTxDone = errors.New("the context's transaction has already been committed or rolled back")

// q returns where a statement runs: the context's transaction, else the
// pool, with single statements retried after a deadlock.
func (s *Store) q(ctx context.Context) querier {
	if tx := txFrom(ctx); tx != nil {
		return tx.querier()
	}
	return retryingPool{s}
}

func (tx *ctxTx) querier() querier {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return endedTx{}
	}
	return tx.tx
}

// maxAttempts bounds how often the store runs one of its own transactions
// (or a single statement) that PostgreSQL aborted with a serialization
// failure or a deadlock.
const maxAttempts = 5

// retryable reports the errors after which running the same transaction
// again may succeed: serialization_failure and deadlock_detected.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// backoff waits a little, more with every attempt, with jitter so that
// the transactions that collided do not collide again; false if ctx ended.
func backoff(ctx context.Context, attempt int) bool {
	d := time.Duration(1<<attempt)*time.Millisecond + rand.N(5*time.Millisecond)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// inTx runs fn in one transaction: a savepoint inside the context's
// transaction if there is one, so that a failing fn leaves the caller's
// transaction as it was, else a new transaction, run again (up to
// maxAttempts) after a serialization failure or a deadlock. fn must
// therefore set everything it returns afresh on every run.
func (s *Store) inTx(ctx context.Context, fn func(q querier) error) error {
	if tx := txFrom(ctx); tx != nil {
		q := tx.querier()
		if _, ok := q.(endedTx); ok {
			return errTxDone
		}
		sp, err := q.(pgx.Tx).Begin(ctx) // a savepoint
		if err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		if err := fn(sp); err != nil {
			if rerr := sp.Rollback(ctx); rerr != nil {
				return errors.Join(err, fmt.Errorf("roll back savepoint: %w", rerr))
			}
			return err
		}
		if err := sp.Commit(ctx); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
		return nil
	}
	for attempt := 1; ; attempt++ {
		err := s.runTx(ctx, fn)
		if err == nil || !retryable(err) || attempt == maxAttempts || !backoff(ctx, attempt) {
			return err
		}
	}
}

func (s *Store) runTx(ctx context.Context, fn func(q querier) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(ctx); rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
			return errors.Join(err, fmt.Errorf("roll back: %w", rerr))
		}
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// BeginTx starts a transaction on a connection of the pool and returns a
// context carrying it. Call every method with the returned context and
// always end it (defer Rollback). Transactions do not nest.
func (s *Store) BeginTx(ctx context.Context) (context.Context, error) {
	if txFrom(ctx) != nil {
		return nil, errors.New("begin transaction: the context already carries one; transactions do not nest")
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, wrap("begin transaction", err)
	}
	return context.WithValue(ctx, txKey{}, &ctxTx{tx: tx}), nil
}

// end commits (commit) or rolls back the transaction. Ending an ended
// transaction is errTxDone.
func (tx *ctxTx) end(ctx context.Context, commit bool) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return errTxDone
	}
	tx.done = true
	// The caller's context may have ended (a client went away): the
	// transaction must still end, or its connection would stay in it.
	ctx = context.WithoutCancel(ctx)
	if commit {
		return tx.tx.Commit(ctx)
	}
	if err := tx.tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return err
	}
	return nil
}

// Commit commits the transaction carried by ctx. It fails if ctx carries
// none or the transaction already ended.
func (s *Store) Commit(ctx context.Context) error {
	tx := txFrom(ctx)
	if tx == nil {
		return errors.New("commit: the context carries no transaction")
	}
	return wrap("commit", tx.end(ctx, true))
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
		return wrap("rollback", err)
	}
	return nil
}

// retryingPool runs single statements on the pool; an Exec that
// PostgreSQL aborted with a deadlock or serialization failure is run
// again. (Reads never wait for locks, so they need no retry.)
type retryingPool struct{ s *Store }

func (p retryingPool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	for attempt := 1; ; attempt++ {
		tag, err := p.s.pool.Exec(ctx, sql, args...)
		if err == nil || !retryable(err) || attempt == maxAttempts || !backoff(ctx, attempt) {
			return tag, err
		}
	}
}

func (p retryingPool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return p.s.pool.Query(ctx, sql, args...)
}

func (p retryingPool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return p.s.pool.QueryRow(ctx, sql, args...)
}

// endedTx is where the statements of an ended transaction go: nowhere.
type endedTx struct{}

func (endedTx) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	return pgconn.CommandTag{}, errTxDone
}

func (endedTx) Query(context.Context, string, ...any) (pgx.Rows, error) { return nil, errTxDone }

func (endedTx) QueryRow(context.Context, string, ...any) pgx.Row { return errRow{errTxDone} }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// mapErr turns driver errors into the storage sentinels, keeping the
// original in the chain for its message: pgx.ErrNoRows is ErrNotFound, a
// taken primary or unique key is ErrConflict, a foreign key that names a
// missing user or client is ErrNotFound, and a database that cannot be
// reached is ErrUnavailable.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return fmt.Errorf("%w: %w", storage.ErrConflict, err)
		case pe.Code == "23503": // foreign_key_violation
			return fmt.Errorf("%w: referenced record does not exist: %w", storage.ErrNotFound, err)
		case unavailableCode(pe.Code):
			return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
		}
		return err
	}
	if unreachable(err) {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return err
}

// unavailableCode reports the SQLSTATEs of a server that cannot do the
// work now: connection exceptions (class 08), a server shutting down or
// starting (57P01-57P03), and too many connections (53300).
func unavailableCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"):
		return true
	case code == "57P01", code == "57P02", code == "57P03", code == "53300":
		return true
	}
	return false
}

// unreachable reports errors of a connection that could not be made or
// was lost: the server is down, restarting, or the network failed.
func unreachable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true // even when it timed out
	}
	// A caller's ended context is the caller's business (and a deadline
	// would otherwise pass for a network timeout below).
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	// The pool's "failed to connect" and a lost connection's "conn closed"
	// are not typed.
	return pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}

// wrap maps err with mapErr and prefixes the operation; nil stays nil.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, mapErr(err))
}

// affectOne checks that a statement changed a row: none is ErrNotFound.
func affectOne(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return storage.ErrNotFound
	}
	return nil
}
