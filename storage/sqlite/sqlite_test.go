package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tenantless/tenantless/migrations"
	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/storage/storagetest"
)

func openFile(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{Path: path})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

func closeStore(t *testing.T, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestConformanceFile(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return openFile(t, filepath.Join(t.TempDir(), "tenantless.db"))
	})
}

func TestConformanceMemory(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := Open(t.Context(), Config{Memory: true})
		if err != nil {
			t.Fatalf("Open(Memory): %v", err)
		}
		return s
	})
}

func TestOpenCreatesFileWithMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenantless.db")
	s := openFile(t, path)
	defer closeStore(t, s)
	// A write makes sure the -wal file exists too.
	if err := s.CreateUser(t.Context(), storage.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("mode of %s: got %v, want %v", filepath.Base(p), got, fs.FileMode(0o600))
		}
	}
}

func TestOpenKeepsModeOfExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenantless.db")
	if err := os.WriteFile(path, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil { // whatever the umask did
		t.Fatal(err)
	}
	closeStore(t, openFile(t, path))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o640 {
		t.Errorf("mode: got %v, want %v", got, fs.FileMode(0o640))
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	missingDir := filepath.Join(dir, "missing", "tenantless.db")
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error
	}{
		{"no path", Config{}, []string{"no path given", "Memory"}},
		{"memory path", Config{Path: ":memory:"}, []string{":memory:", "Memory"}},
		{"path and memory", Config{Path: "x.db", Memory: true}, []string{"x.db", "choose one"}},
		{"negative busy timeout", Config{Memory: true, BusyTimeout: -time.Second}, []string{"busy timeout"}},
		{"missing directory", Config{Path: missingDir}, []string{missingDir, "directory", "does not exist"}},
		{"not a database", Config{Path: garbage}, []string{garbage, "not a SQLite database"}},
		{"directory", Config{Path: dir}, []string{dir, "is a directory"}},
	}
	if runtime.GOOS == "linux" {
		tests = append(tests,
			struct {
				name string
				cfg  Config
				want []string
			}{"under /proc", Config{Path: "/proc/tenantless.db"}, []string{"/proc/tenantless.db", "virtual file system", "cannot hold a database"}},
			struct {
				name string
				cfg  Config
				want []string
			}{"a file in /proc", Config{Path: "/proc/self/status"}, []string{"virtual file system"}},
		)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.cfg)
			if err == nil {
				closeStore(t, s)
				t.Fatalf("Open(%+v): got nil error, want one", tc.cfg)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open(%+v): got error %q, want it to mention %q", tc.cfg, err, w)
				}
			}
			// SQLite's bare result codes say nothing a user can act on.
			if regexp.MustCompile(`\(\d+\)`).MatchString(err.Error()) {
				t.Errorf("Open(%+v): got error %q, with a bare SQLite code", tc.cfg, err)
			}
		})
	}
	if _, err := os.Stat(filepath.Dir(missingDir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open created the missing directory: stat got %v", err)
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a dir?#%", "tenantless.db")
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	closeStore(t, openFile(t, path))
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file not at %q: %v", path, err)
	}
}

func countMigrations(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMigrationsIdempotent(t *testing.T) {
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("migrations.FS is empty")
	}
	path := filepath.Join(t.TempDir(), "tenantless.db")
	for i := range 3 {
		s := openFile(t, path)
		if got := countMigrations(t, s); got != len(entries) {
			t.Errorf("open #%d: got %d rows in schema_migrations, want %d", i+1, got, len(entries))
		}
		var name string
		if err := s.r.QueryRowContext(t.Context(), `SELECT name FROM schema_migrations WHERE version = 1`).Scan(&name); err != nil {
			t.Fatal(err)
		}
		if name != entries[0].Name() {
			t.Errorf("migration 1 name: got %q, want %q", name, entries[0].Name())
		}
		closeStore(t, s)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenantless.db")
	ctx := t.Context()
	u := storage.User{ID: "u1", Username: "alice", PasswordHash: "h", CreatedAt: time.Unix(1_700_000_000, 0).UTC()}
	s := openFile(t, path)
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnsureSecret(ctx, "hmac", []byte("first")); err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)

	s = openFile(t, path)
	defer closeStore(t, s)
	got, err := s.GetUser(ctx, "u1")
	if err != nil {
		t.Fatalf("GetUser after reopening: %v", err)
	}
	if got != u {
		t.Errorf("GetUser after reopening: got %+v, want %+v", got, u)
	}
	secret, err := s.EnsureSecret(ctx, "hmac", []byte("second"))
	if err != nil || string(secret) != "first" {
		t.Errorf("EnsureSecret after reopening: got %q, %v, want %q, nil", secret, err, "first")
	}
}

func TestPragmas(t *testing.T) {
	file := openFile(t, filepath.Join(t.TempDir(), "tenantless.db"))
	defer closeStore(t, file)
	mem, err := Open(t.Context(), Config{Memory: true, BusyTimeout: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(t, mem)
	tests := []struct {
		name   string
		q      querier
		pragma string
		want   string
	}{
		{"file writer journal_mode", file.w, "journal_mode", "wal"},
		{"file writer foreign_keys", file.w, "foreign_keys", "1"},
		{"file writer busy_timeout", file.w, "busy_timeout", "5000"},
		{"file writer synchronous", file.w, "synchronous", "1"},
		{"file writer query_only", file.w, "query_only", "0"},
		{"file reader journal_mode", file.r, "journal_mode", "wal"},
		{"file reader foreign_keys", file.r, "foreign_keys", "1"},
		{"file reader query_only", file.r, "query_only", "1"},
		{"memory writer journal_mode", mem.w, "journal_mode", "memory"},
		{"memory writer foreign_keys", mem.w, "foreign_keys", "1"},
		{"memory writer busy_timeout", mem.w, "busy_timeout", "250"},
		{"memory reader query_only", mem.r, "query_only", "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			if err := tc.q.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("PRAGMA %s: got %q, want %q", tc.pragma, got, tc.want)
			}
		})
	}
}

func TestReaderPoolIsReadOnly(t *testing.T) {
	for _, cfg := range []Config{{Path: filepath.Join(t.TempDir(), "t.db")}, {Memory: true}} {
		s, err := Open(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.r.ExecContext(t.Context(), `INSERT INTO users (id, username, password_hash, created_at, updated_at) VALUES ('u', 'u', '', 0, 0)`)
		if err == nil {
			t.Errorf("write through the reader pool (%+v): got nil error, want one", cfg)
		}
		closeStore(t, s)
	}
}

func TestMemoryStoresAreSeparate(t *testing.T) {
	ctx := t.Context()
	a, err := Open(ctx, Config{Memory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(t, a)
	b, err := Open(ctx, Config{Memory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(t, b)
	if err := a.CreateUser(ctx, storage.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetUser(ctx, "u1"); err != nil {
		t.Errorf("GetUser on the store that wrote: %v", err)
	}
	if _, err := b.GetUser(ctx, "u1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetUser on another memory store: got error %v, want %v", err, storage.ErrNotFound)
	}
}

// TestForeignKeys checks the backend's answer to records that name a user
// or client that does not exist, which the interface leaves open.
func TestForeignKeys(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, Config{Memory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(t, s)
	if err := s.CreateUser(ctx, storage.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
	}{
		{"PutConsent unknown user", s.PutConsent(ctx, storage.Consent{UserID: "nope", ClientID: "nope"})},
		{"PutConsent unknown client", s.PutConsent(ctx, storage.Consent{UserID: "u1", ClientID: "nope"})},
		{"CreateSession unknown user", s.CreateSession(ctx, storage.Session{IDHash: []byte("h"), UserID: "nope"})},
	}
	for _, tc := range tests {
		if !errors.Is(tc.err, storage.ErrNotFound) {
			t.Errorf("%s: got error %v, want %v", tc.name, tc.err, storage.ErrNotFound)
		}
	}
}

// TestFailedCallKeepsTransaction checks that a method failing inside a
// transaction undoes only its own work: the caller can still commit.
func TestFailedCallKeepsTransaction(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, Config{Memory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(t, s)
	tx, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(tx, storage.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RotateRefreshToken(tx, "req", "missing", time.Now()); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("RotateRefreshToken: got error %v, want %v", err, storage.ErrNotFound)
	}
	if err := s.CreateUser(tx, storage.User{ID: "u1", Username: "bob"}); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreateUser: got error %v, want %v", err, storage.ErrConflict)
	}
	if err := s.Commit(tx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if n, err := s.CountUsers(ctx); err != nil || n != 1 {
		t.Errorf("CountUsers: got %d, %v, want 1, nil", n, err)
	}
}

// TestTwoStoresOneFile stands in for two processes on one database: their
// writers meet in SQLite's file lock, which busy_timeout and BEGIN
// IMMEDIATE must resolve without errors.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenantless.db")
	a, b := openFile(t, path), openFile(t, path)
	defer closeStore(t, a)
	defer closeStore(t, b)
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 8 {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range 20 {
				tok := storage.Token{Kind: storage.KindRefresh, Signature: fmt.Sprintf("r-%d-%d", w, i),
					RequestID: "req", ClientID: "c", Subject: "u", Active: true}
				if err := s.CreateToken(ctx, tok); err != nil {
					t.Errorf("CreateToken: %v", err)
					return
				}
				if _, err := s.GetToken(ctx, tok.Kind, tok.Signature); err != nil {
					t.Errorf("GetToken: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := b.ListGrantTokens(ctx, "u", "")
	if err != nil || len(got) != 8*20 {
		t.Errorf("ListGrantTokens: got %d tokens, %v, want %d, nil", len(got), err, 8*20)
	}
}

func TestSchemaNewerThanProgram(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenantless.db")
	s := openFile(t, path)
	if _, err := s.w.ExecContext(t.Context(),
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)
	s, err := Open(t.Context(), Config{Path: path})
	if err == nil {
		closeStore(t, s)
		t.Fatal("Open: got nil error for a newer schema, want one")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open: got error %q, want it to say the schema is newer", err)
	}
}

func TestApplyMigrations(t *testing.T) {
	file := func(body string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(body)} }
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		wantErr string // substring; empty means success
		tables  []string
	}{
		{"applies in version order", fstest.MapFS{
			"0002_b.sql": file(`ALTER TABLE a ADD COLUMN y INTEGER; CREATE TABLE b (x INTEGER) STRICT;`),
			"0001_a.sql": file(`CREATE TABLE a (x INTEGER) STRICT;`),
		}, "", []string{"a", "b"}},
		{"no files", fstest.MapFS{}, "", nil},
		{"version without four digits", fstest.MapFS{"1_a.sql": file(``)}, "0001_description.sql", nil},
		{"dash instead of underscore", fstest.MapFS{"0001-a.sql": file(``)}, "0001_description.sql", nil},
		{"upper case description", fstest.MapFS{"0001_A.sql": file(``)}, "0001_description.sql", nil},
		{"other extension", fstest.MapFS{"0001_a.txt": file(``)}, "0001_description.sql", nil},
		{"version zero", fstest.MapFS{"0000_a.sql": file(``)}, "0001 or more", nil},
		{"repeated version", fstest.MapFS{"0001_a.sql": file(``), "0001_b.sql": file(``)}, "same version", nil},
		{"failing file is rolled back", fstest.MapFS{
			"0001_a.sql": file(`CREATE TABLE a (x INTEGER) STRICT;`),
			"0002_b.sql": file(`CREATE TABLE b (x INTEGER) STRICT; THIS IS NOT SQL;`),
		}, "0002_b.sql", []string{"a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), Config{Memory: true})
			if err != nil {
				t.Fatal(err)
			}
			defer closeStore(t, s)
			// A fresh schema_migrations table, so the test files start at 1.
			if _, err := s.w.ExecContext(t.Context(), `DELETE FROM schema_migrations`); err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second run must be a no-op
				err = applyMigrations(t.Context(), s.w, tc.fsys)
				if tc.wantErr == "" && err != nil {
					t.Fatalf("applyMigrations: %v", err)
				}
				if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
					t.Fatalf("applyMigrations: got error %v, want one mentioning %q", err, tc.wantErr)
				}
			}
			for _, table := range []string{"a", "b"} {
				var n int
				if err := s.w.QueryRowContext(t.Context(),
					`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil {
					t.Fatal(err)
				}
				want := 0
				for _, w := range tc.tables {
					if w == table {
						want = 1
					}
				}
				if n != want {
					t.Errorf("table %s: got %d, want %d", table, n, want)
				}
			}
			var recorded int
			if err := s.w.QueryRowContext(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&recorded); err != nil {
				t.Fatal(err)
			}
			if recorded != len(tc.tables) {
				t.Errorf("schema_migrations rows: got %d, want %d", recorded, len(tc.tables))
			}
		})
	}
}

// TestTimeEncoding checks the zero time and sub-second times, which the
// conformance suite's whole-second fixtures do not exercise.
func TestTimeEncoding(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, Config{Memory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(t, s)
	local := time.FixedZone("UTC+2", 2*3600)
	in := storage.SigningKey{ID: "k", Algorithm: "ES256", PrivateKey: []byte("d"),
		CreatedAt: time.Date(2024, 5, 6, 7, 8, 9, 999_999_999, local)}
	if err := s.CreateSigningKey(ctx, in); err != nil {
		t.Fatal(err)
	}
	keys, err := s.ListSigningKeys(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("ListSigningKeys: got %v, %v", keys, err)
	}
	want := time.Date(2024, 5, 6, 5, 8, 9, 0, time.UTC)
	if got := keys[0].CreatedAt; !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("CreatedAt: got %v, want %v (truncated to the second, in UTC)", got, want)
	}
	if got := keys[0].RetiredAt; !got.IsZero() {
		t.Errorf("RetiredAt: got %v, want the zero time", got)
	}
}

// TestEmptyHashRejected checks that a record keyed by a hash cannot be
// stored without one, which the interface leaves open.
func TestEmptyHashRejected(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, Config{Memory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(t, s)
	if err := s.CreateUser(ctx, storage.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
	}{
		{"CreateSession nil hash", s.CreateSession(ctx, storage.Session{UserID: "u1"})},
		{"CreateInitialAccessToken nil hash", s.CreateInitialAccessToken(ctx, storage.InitialAccessToken{Note: "n"})},
		{"CreateInitialAccessToken empty hash", s.CreateInitialAccessToken(ctx, storage.InitialAccessToken{Hash: []byte{}})},
	}
	for _, tc := range tests {
		if tc.err == nil || !strings.Contains(tc.err.Error(), "empty") {
			t.Errorf("%s: got error %v, want one saying the hash is empty", tc.name, tc.err)
		}
	}
	if list, err := s.ListInitialAccessTokens(ctx); err != nil || len(list) != 0 {
		t.Errorf("ListInitialAccessTokens: got %d tokens, %v, want 0, nil", len(list), err)
	}
}

// TestGarbageCollectInBatches sweeps more expired rows than one batch
// holds, with live rows among them: every expired row goes, in several
// transactions, and the count is their total.
func TestGarbageCollectInBatches(t *testing.T) {
	s := openFile(t, filepath.Join(t.TempDir(), "tenantless.db"))
	defer closeStore(t, s)
	ctx := t.Context()
	now := time.Unix(1_800_000_000, 0).UTC()
	expired := 2*gcBatch + 7
	for i := range expired + 3 {
		exp := now.Add(-time.Hour)
		if i%(expired/3) == 0 && i/(expired/3) < 3 {
			exp = now.Add(time.Hour) // three live rows spread through the table
		}
		if err := s.CreateToken(ctx, storage.Token{Kind: storage.KindAccess, Signature: fmt.Sprintf("sig-%05d", i),
			RequestID: fmt.Sprintf("req-%05d", i), ClientID: "c", Subject: "u", RequestedAt: now.Add(-2 * time.Hour),
			ExpiresAt: exp, Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GarbageCollect(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tokens != int64(expired) {
		t.Errorf("GarbageCollect removed %d token rows, want %d", got.Tokens, expired)
	}
	var left int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM tokens WHERE expires_at > ?`, now.Unix()).Scan(&left); err != nil || left != 3 {
		t.Errorf("live rows left: %d (%v), want 3", left, err)
	}
	var total int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM tokens`).Scan(&total); err != nil || total != 3 {
		t.Errorf("rows left: %d (%v), want only the 3 live ones", total, err)
	}
}

// TestOpenPermissionErrors checks that a database this user may not write
// gets an error saying so. Root ignores file modes, so as root this test
// is skipped; cmd/tenantless's TestDatabaseErrors runs the binary as an
// unprivileged user for the same cases.
func TestOpenPermissionErrors(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores file modes (TestDatabaseErrors in cmd/tenantless covers these as nobody)")
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	closeStore(t, openFile(t, good))
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(dir, "ro.db")
	noAccess := filepath.Join(dir, "none.db")
	lockedDir := filepath.Join(dir, "locked")
	inLocked := filepath.Join(lockedDir, "x.db")
	for _, f := range []struct {
		path string
		mode fs.FileMode
	}{{readOnly, 0o400}, {noAccess, 0o000}} {
		if err := os.WriteFile(f.path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f.path, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(lockedDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inLocked, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(lockedDir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(lockedDir, 0o700) })
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"read-only file", readOnly, []string{readOnly, "read-only", "chmod u+w"}},
		{"unreadable file", noAccess, []string{noAccess, "neither read nor write"}},
		{"directory not writable", inLocked, []string{lockedDir, "not writable", "x.db-wal"}},
		{"new file in a directory not writable", filepath.Join(lockedDir, "new.db"), []string{"permission denied", lockedDir}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), Config{Path: tc.path})
			if err == nil {
				closeStore(t, s)
				t.Fatalf("Open(%s): got nil error, want one", tc.path)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open(%s): got error %q, want it to mention %q", tc.path, err, w)
				}
			}
		})
	}
}
