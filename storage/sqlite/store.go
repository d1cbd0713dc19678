package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tenantless/tenantless/storage"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// readerConns bounds the reader pool: every SQLite connection has its own
// page cache, so an unbounded pool costs memory without adding throughput.
const readerConns = 4

// defaultBusyTimeout is how long a connection waits for another process's
// lock before it fails with SQLITE_BUSY.
const defaultBusyTimeout = 5 * time.Second

// Config says which database Open opens.
type Config struct {
	// Path is the database file. It is created with mode 0600 if it does
	// not exist; the directory must exist. It must be empty when Memory is
	// set, and ":memory:" is rejected: use Memory.
	Path string
	// Memory opens a private in-memory database instead of a file. It is
	// shared by the store's pools and lost on Close.
	Memory bool
	// BusyTimeout is how long a statement waits for a lock held by another
	// process before it fails; zero means 5s.
	BusyTimeout time.Duration
	// Logger receives the errors of the store's own background work, which
	// no caller sees: the WAL checkpointer's. Nil means discard.
	Logger *slog.Logger
}

// Store is a storage.Store on a SQLite database. It is safe for concurrent
// use.
type Store struct {
	w *sql.DB // the only writer: one connection, BEGIN IMMEDIATE
	r *sql.DB // query_only readers
	// pin holds one connection of an in-memory database open for the life of
	// the store, because SQLite frees such a database when its last
	// connection closes. Nil for files.
	pin *sql.Conn
	// wc and rc hold the prepared statements of w and r.
	wc, rc *stmtCache
	// wlock is held by whoever uses the writer connection (tx.go).
	wlock chan struct{}
	// ck checkpoints the log of a file database; nil in memory.
	ck        *checkpointer
	log       *slog.Logger
	closeOnce sync.Once
	closeErr  error
}

var _ storage.Store = (*Store)(nil)

// Open opens (creating it if needed) the database cfg names, applies the
// migrations that have not run yet and returns the store. Close releases it.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.BusyTimeout < 0 {
		return nil, fmt.Errorf("open database: negative busy timeout %v", cfg.BusyTimeout)
	}
	if cfg.BusyTimeout == 0 {
		cfg.BusyTimeout = defaultBusyTimeout
	}
	base, name, err := baseURI(cfg)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	// busy_timeout counts milliseconds; round up so that a positive timeout
	// never becomes 0 (fail at once).
	ms := (cfg.BusyTimeout + time.Millisecond - 1).Milliseconds()
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(ms, 10)+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if cfg.Memory {
		// A bare name with mode=memory makes a database only this process
		// can see; cache=shared lets every connection opened with the same
		// name, in both pools, share it.
		q.Set("mode", "memory")
		q.Set("cache", "shared")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
	}
	wq, rq, cq := cloneValues(q), cloneValues(q), cloneValues(q)
	wq.Set("_txlock", "immediate")
	if !cfg.Memory {
		// The checkpointer copies the log into the database, off the
		// writer's path (checkpoint.go).
		wq.Add("_pragma", "wal_autocheckpoint(0)")
	}
	rq.Add("_pragma", "query_only(1)")

	s := &Store{log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	fail := func(err error) (*Store, error) {
		_ = s.Close()
		return nil, openError(name, err)
	}

	// database/sql opens connections lazily; a database that is not
	// SQLite, or cannot be written, shows up at the first query.
	s.w, err = sql.Open("sqlite", base.withQuery(wq))
	if err != nil {
		return fail(err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if cfg.Memory {
		// The pin (see Store) is an extra reader connection: pinning one of
		// the writer's would take its only connection.
		r, err := sql.Open("sqlite", base.withQuery(rq))
		if err != nil {
			return fail(err)
		}
		s.r = r
		s.r.SetMaxOpenConns(readerConns + 1)
		if s.pin, err = s.r.Conn(ctx); err != nil {
			return fail(err)
		}
	}
	// The first read of the file: it fails here, rather than half-way
	// through a migration, if the file is not a SQLite database.
	var n int
	if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&n); err != nil {
		return fail(err)
	}
	if err := migrate(ctx, s.w); err != nil {
		return fail(err)
	}
	if s.r == nil {
		// Readers open after the migrations so that the first one finds the
		// database already in WAL mode with its schema.
		if s.r, err = sql.Open("sqlite", base.withQuery(rq)); err != nil {
			return fail(err)
		}
		s.r.SetMaxOpenConns(readerConns)
	}
	s.r.SetMaxIdleConns(readerConns)
	if err := s.r.PingContext(ctx); err != nil {
		return fail(err)
	}
	s.wc, s.rc = newStmtCache(s.w), newStmtCache(s.r)
	s.wlock = make(chan struct{}, 1)
	if !cfg.Memory {
		if err := s.startCheckpointer(base.withQuery(cq)); err != nil {
			return fail(err)
		}
	}
	return s, nil
}

// uri is a SQLite "file:" URI without its query.
type uri string

func (u uri) withQuery(q url.Values) string { return string(u) + "?" + q.Encode() }

// baseURI validates cfg and returns the URI of its database, creating the
// file with mode 0600 first if it does not exist, and the name to use in
// errors.
func baseURI(cfg Config) (uri, string, error) {
	if cfg.Memory {
		if cfg.Path != "" {
			return "", "", fmt.Errorf("open database: both Path %q and Memory are set; choose one", cfg.Path)
		}
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", "", fmt.Errorf("open in-memory database: %w", err)
		}
		return uri(fmt.Sprintf("file:tenantless-%x", b)), "(memory)", nil
	}
	switch cfg.Path {
	case "":
		return "", "", errors.New("open database: no path given (set Path, or Memory for an in-memory database)")
	case ":memory:":
		return "", "", errors.New(`open database: path ":memory:" is not supported; set Memory instead`)
	}
	path, err := filepath.Abs(cfg.Path)
	if err != nil {
		return "", "", fmt.Errorf("open database %s: %w", cfg.Path, err)
	}
	if err := createFile(path); err != nil {
		return "", "", err
	}
	// url.URL percent-encodes '?', '#' and '%' in the path, which SQLite
	// decodes again; a raw path would end at the first '?'.
	u := &url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
	return uri(u.String()), path, nil
}

// createFile creates path with mode 0600 unless it exists, before SQLite
// would create it with the umask's mode: the database holds password hashes
// and signing keys. SQLite gives the -wal and -shm files the same mode. An
// existing file keeps its mode, and must be a file this process can read
// and write. The errors say what is wrong in words (see errors.go).
func createFile(path string) error {
	dir := filepath.Dir(path)
	if virtualFS(dir) {
		return fmt.Errorf("open database %s: %s is on a virtual file system (such as /proc or /sys) that cannot hold a database; give a path in a directory on a disk", path, dir)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return fmt.Errorf("open database %s: %w", path, err)
		}
		return nil
	case errors.Is(err, fs.ErrExist):
		return checkExisting(path)
	case errors.Is(err, fs.ErrNotExist):
		if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
			return fmt.Errorf("open database %s: cannot create a file in %s (%v); give a path in a directory that can hold files", path, dir, pathErrText(err))
		}
		return fmt.Errorf("open database %s: directory %s does not exist; create it first", path, dir)
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("open database %s: %s is on a read-only file system; give a path on a writable one", path, dir)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("open database %s: permission denied creating the file: this user cannot write to %s; check the directory's owner and permissions", path, dir)
	default:
		return fmt.Errorf("open database %s: %w", path, err)
	}
}

// checkExisting checks that an existing path is a file this process can
// read and write: SQLite would otherwise open a read-only file read-only
// and fail at the first write, or fail with a bare "unable to open
// database file".
func checkExisting(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("open database %s: is a directory; give the path of a file in it", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		return f.Close()
	}
	switch {
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("open database %s: the file is on a read-only file system; copy it to a writable one, or remount that one read-write", path)
	case errors.Is(err, fs.ErrPermission):
		if rf, rerr := os.Open(path); rerr == nil {
			_ = rf.Close()
			return fmt.Errorf("open database %s: the file is read-only (mode %v) for this user, and tenantless writes to it; make it writable (chmod u+w %s) or give another --db", path, fi.Mode().Perm(), path)
		}
		return fmt.Errorf("open database %s: permission denied: this user can neither read nor write the file (mode %v); check its owner and permissions", path, fi.Mode().Perm())
	}
	return fmt.Errorf("open database %s: %w", path, err)
}

// pathErrText is the reason of a *fs.PathError without its path.
func pathErrText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// Ping checks that both pools can reach the database.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping writer: %w", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("ping reader: %w", err)
	}
	return nil
}

// Close closes both pools. An in-memory database is lost. Calling Close
// again returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.ck != nil {
			errs = append(errs, s.ck.close())
		}
		for _, c := range []*stmtCache{s.wc, s.rc} {
			if c != nil {
				errs = append(errs, c.close())
			}
		}
		if s.w != nil {
			errs = append(errs, s.w.Close())
		}
		if s.pin != nil {
			errs = append(errs, s.pin.Close())
		}
		if s.r != nil {
			errs = append(errs, s.r.Close())
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close database: %w", err)
		}
	})
	return s.closeErr
}
