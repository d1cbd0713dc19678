package migrations

import "embed"

// FS holds the SQLite migration files, NNNN_description.sql, at its root.
//
//go:embed *.sql
var FS embed.FS

// PostgresFS holds the PostgreSQL migration files, NNNN_description.sql,
// in its directory "postgres". They are a schema of their own, numbered
// from 0001, equivalent to FS's in what they store.
//
//go:embed postgres/*.sql
var PostgresFS embed.FS
