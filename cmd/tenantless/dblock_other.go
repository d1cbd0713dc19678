//go:build !unix

package main

// lockDatabase does nothing where flock is not available: SQLite's own
// locks keep the file consistent, but two servers on one file would not
// see each other's cached changes.
func lockDatabase(string) (func(), error) { return func() {}, nil }
