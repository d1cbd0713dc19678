// Package sqlite is the SQLite backend of storage.Store, built on the pure-Go
// driver modernc.org/sqlite.
//
// It owns the database file and its connections, and runs the migrations of
// package migrations at start-up with its own runner (one transaction per
// file, recorded in schema_migrations, idempotent).
//
// # Connections
//
// Open creates two pools on one database:
//   - a writer pool of exactly one connection whose transactions BEGIN
//     IMMEDIATE, so writers queue in Go instead of failing with SQLITE_BUSY
//     on a lock upgrade; every write and every transaction runs here;
//   - a reader pool of a few query_only connections for plain reads, which in
//     WAL mode never wait for the writer.
//
// Both use busy_timeout, foreign_keys and synchronous(NORMAL); file databases
// use WAL, and a third connection of the store's own goroutine checkpoints
// the log, so that no commit waits for a checkpoint (checkpoint.go). A
// transaction started with BeginTx travels in the context, and
// every method called with that context runs inside it, reads included:
// calling a method with a context that lacks the transaction while holding it
// waits for the single writer connection, so do not.
//
// An in-memory database (Config.Memory) is a private shared-cache database
// ("file:tenantless-<random>?mode=memory&cache=shared") that both pools open,
// so tests exercise the same two-pool code paths as production. Shared cache
// locks tables rather than using WAL snapshots: a read from the reader pool
// waits while a write transaction holds the table it reads (modernc waits
// with sqlite3_unlock_notify rather than failing with SQLITE_LOCKED), so
// there even a plain read without the transaction's context, made while
// holding it, waits until the context is done. One connection stays open
// for the store's life, because SQLite frees a memory database when its
// last connection closes.
//
// # Encoding
//
// Times are INTEGER unix seconds in UTC; the zero time.Time is stored as 0
// and read back as the zero time.Time, so time.Unix(0, 0) also reads back as
// zero. Lists are JSON arrays in TEXT; an empty list reads back as nil.
//
// # Imports
//
// The package imports only storage, migrations, the standard library and
// modernc.org/sqlite. It knows nothing of fosite or HTTP.
package sqlite
