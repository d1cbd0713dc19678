package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dbError is an error of Open that says in words what is wrong with the
// database; it wraps SQLite's error, whose bare code ("unable to open
// database file (14)") it does not print.
type dbError struct {
	msg string
	err error
}

func (e *dbError) Error() string { return e.msg }
func (e *dbError) Unwrap() error { return e.err }

// openError explains an error of opening the database at path (or, for an
// in-memory database, the name "(memory)").
func openError(path string, err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	var msg string
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB:
		msg = "the file is not a SQLite database (is --db pointing at another file?); give the path of a tenantless database, or a new path to create one"
	case sqlite3.SQLITE_CORRUPT:
		msg = "the database file is damaged (SQLite reports it malformed); restore it from a backup, or give a new path to start afresh"
	case sqlite3.SQLITE_READONLY:
		if se.Code() == sqlite3.SQLITE_READONLY_DIRECTORY || !writable(dir) {
			msg = fmt.Sprintf("the directory %s is not writable for this user, and SQLite needs to create %s-wal and %s-shm beside the database; make the directory writable, or move the database to one that is", dir, filepath.Base(path), filepath.Base(path))
		} else {
			msg = "the database is read-only for this user (check the mode and owner of the file and of its -wal and -shm files beside it)"
		}
	case sqlite3.SQLITE_CANTOPEN:
		msg = fmt.Sprintf("SQLite cannot open the file or create its -wal and -shm files beside it; check the permissions of the file and of %s", dir)
	case sqlite3.SQLITE_BUSY:
		msg = "the database is locked by another process and stayed locked; try again, or stop the other process"
	case sqlite3.SQLITE_FULL:
		msg = "the disk is full"
	case sqlite3.SQLITE_IOERR:
		msg = "the file system reported an input/output error; check the disk (is the file on a network or virtual file system?)"
	default:
		return fmt.Errorf("open database %s: %w", path, err)
	}
	return &dbError{msg: "open database " + path + ": " + msg, err: err}
}

// writable reports whether this process can create a file in dir.
func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".tenantless-probe-*")
	if err != nil {
		return false
	}
	name := f.Name()
	_ = f.Close()
	_ = os.Remove(name)
	return true
}
