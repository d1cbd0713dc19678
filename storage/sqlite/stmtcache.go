package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStatements bounds a pool's statement cache. The store's queries
// are constant strings, far fewer than this; a query past the bound runs
// unprepared rather than growing the cache.
const maxCachedStatements = 256

// stmtCache keeps one prepared *sql.Stmt per query text for a pool.
// Compiling SQL is a large share of a short query's cost (a profile of the
// authorization flow showed a fifth of the server's CPU in SQLite's
// parser); a prepared statement is compiled once per connection and reused.
// database/sql prepares a cached statement lazily on each connection that
// runs it and re-prepares it if the connection is replaced. The writer's
// cache is used only under the writer lock (tx.go), which is also when its
// single connection is free to prepare on.
type stmtCache struct {
	db     *sql.DB
	mu     sync.RWMutex
	m      map[string]*sql.Stmt
	closed bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: make(map[string]*sql.Stmt)}
}

// get returns the prepared statement for query, preparing it the first
// time. It returns nil when the cache is full; the caller then runs the
// query unprepared.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.RLock()
	st, ok := c.m[query]
	closed, full := c.closed, len(c.m) >= maxCachedStatements
	c.mu.RUnlock()
	if closed {
		return nil, nil
	}
	if ok || full {
		return st, nil
	}
	// Prepare without the cache's lock, so that reads of the cache never
	// wait for a connection.
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = st.Close()
		return nil, nil
	}
	if prev, ok := c.m[query]; ok || len(c.m) >= maxCachedStatements {
		_ = st.Close()
		return prev, nil
	}
	c.m[query] = st
	return st, nil
}

// close closes every cached statement; the cache serves none after it.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var first error
	for _, st := range c.m {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// queries returns the text of every cached query, closed or not: the
// queries the store has run, for TestQueryPlans.
func (c *stmtCache) queries() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	qs := make([]string, 0, len(c.m))
	for q := range c.m {
		qs = append(qs, q)
	}
	return qs
}

// ExecContext runs query as a cached prepared statement on the pool.
func (c *stmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = statementContext(ctx)
	st, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.db.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext runs query as a cached prepared statement on the pool.
func (c *stmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = statementContext(ctx)
	st, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.db.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs query as a cached prepared statement on the pool.
// If the statement cannot be prepared, the query runs unprepared so that
// the *sql.Row carries the same error.
func (c *stmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = statementContext(ctx)
	st, err := c.get(ctx, query)
	if err != nil || st == nil {
		return c.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// statementContext is the context a statement runs with: ctx without its
// cancellation. The driver watches a cancellable context with a goroutine
// and a progress handler per statement, a measurable share of a short
// indexed query; every statement of the store is short, so it is left to
// finish even if the request that asked for it has gone. (A transaction
// does not end with its context: it ends when its holder commits or rolls
// it back, which is why BeginTx's callers defer Rollback.)
func statementContext(ctx context.Context) context.Context {
	if ctx.Done() == nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}
