// Package postgres is the PostgreSQL backend of storage.Store, built on
// github.com/jackc/pgx/v5 and its pool, pgxpool. It is what several
// tenantless instances behind one issuer share.
//
// It owns its connection pool and runs the PostgreSQL migrations of
// package migrations (migrations.PostgresFS) at start-up: one transaction
// per file, recorded in schema_migrations, all under a session advisory
// lock, so that instances starting together migrate once and the others
// wait and find nothing left to do.
//
// # Transactions
//
// A transaction started with BeginTx travels in the context, and every
// method called with that context runs inside it, reads included; a
// method that needs several statements runs them in a savepoint there, or
// in a transaction of its own. Transactions are READ COMMITTED:
// every one-time check (codes, refresh rotation) is a conditional UPDATE
// of one row, which PostgreSQL serialises on the row lock, so of
// concurrent callers exactly one wins, as on SQLite. The sweep of unused
// clients locks the token table against writes for its few statements,
// so that no grant is issued to a client while it is being removed. The
// store's own transactions are retried, a few times, when PostgreSQL
// aborts them with a serialization failure or a deadlock; a caller's
// transaction gets the error.
//
// # Errors
//
// Besides the storage sentinels ErrNotFound and ErrConflict, a database
// that cannot be reached (refused or dropped connections, a server
// shutting down or starting, too many connections) is
// storage.ErrUnavailable.
//
// # Encoding
//
// As in package sqlite: times are BIGINT unix seconds in UTC, the zero
// time is 0, and an empty list reads back as nil. Lists are text[] and
// text compares byte for byte (COLLATE "C"). The audit log's free-form
// fields are bytea, since text refuses NUL bytes.
//
// # Changes
//
// Triggers (migration 0002) NOTIFY the channel "tenantless.<schema>" when
// a live access token, a client or a signing key changes; Watch delivers
// them to the caller's caches (storage.Watcher). TryExclusive runs a job
// on one instance at a time under an advisory lock (storage.Exclusive).
//
// # Imports
//
// The package imports only storage, migrations, the standard library and
// pgx. It knows nothing of fosite or HTTP.
package postgres
