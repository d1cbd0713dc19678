package migrations

import "embed"

// FS holds the migration files, NNNN_description.sql, at its root.
//
//go:embed *.sql
var FS embed.FS
