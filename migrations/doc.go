// Package migrations holds the forward-only SQL migrations of the tenantless
// database, embedded in the binary as FS.
//
// Files are named NNNN_description.sql; the number is the schema version and
// files apply in that order, each in its own transaction, recorded in the
// schema_migrations table by the runner in storage/sqlite. A migration that
// has landed is never edited: change the schema by adding a new file.
//
// Conventions the schema follows:
//   - every table is STRICT;
//   - times are INTEGER unix seconds in UTC, and 0 means the zero time
//     ("never" where a field documents it), so columns are NOT NULL;
//   - list-valued fields are JSON arrays in TEXT;
//   - every column used in a WHERE or ORDER BY clause is indexed.
//
// The package imports only the standard library.
package migrations
