package postgres

import (
	"context"
	"errors"
	"io/fs"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantless/tenantless/migrations"

	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/storage/postgres/pgtest"
	"github.com/tenantless/tenantless/storage/storagetest"
)

func TestMain(m *testing.M) { pgtest.Main(m, "storage/postgres") }

// open opens a store on a fresh schema.
func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{URL: url})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestPostgresConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return open(t, pgtest.URL(t))
	})
}

// TestPostgresMigrateOnce opens several stores on one new schema at once,
// as instances starting together do: every Open succeeds and each
// migration is recorded once.
func TestPostgresMigrateOnce(t *testing.T) {
	url := pgtest.URL(t)
	const n = 6
	errs := make(chan error, n)
	for range n {
		go func() {
			s, err := Open(t.Context(), Config{URL: url})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Open: %v", err)
		}
	}
	s := open(t, url)
	defer s.Close()
	var versions []int
	rows, err := s.pool.Query(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	versions, err = collect(rows, func(r pgx.Row) (int, error) { var v int; err := r.Scan(&v); return v, err })
	if err != nil {
		t.Fatal(err)
	}
	fsys, _ := fs.Sub(migrations.PostgresFS, "postgres")
	files, err := readMigrations(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for _, m := range files {
		want = append(want, m.version)
	}
	if len(want) < 3 || !slices.Equal(versions, want) {
		t.Errorf("schema_migrations versions: got %v, want %v", versions, want)
	}
}

// TestPostgresUnavailable takes the database away under an open store:
// calls fail with storage.ErrUnavailable (promptly, not after a hang) and
// succeed again once it is back, without reopening the store.
func TestPostgresUnavailable(t *testing.T) {
	proxy, url := pgtest.NewProxy(t, pgtest.URL(t))
	s := open(t, url)
	defer s.Close()
	ctx := t.Context()
	u := storage.User{ID: "u1", Username: "alice", PasswordHash: "h"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	proxy.Down()
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"GetUser", func() error { _, err := s.GetUser(ctx, "u1"); return err }},
		{"CreateUser", func() error {
			return s.CreateUser(ctx, storage.User{ID: "u2", Username: "bob", PasswordHash: "h"})
		}},
		{"BeginTx", func() error { _, err := s.BeginTx(ctx); return err }},
		{"RotateRefreshToken", func() error { return s.RotateRefreshToken(ctx, "r", "s", time.Now()) }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s with the database down: got %v, want %v", c.name, err, storage.ErrUnavailable)
		}
	}
	if _, err := Open(ctx, Config{URL: url}); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Open with the database down: got %v, want %v", err, storage.ErrUnavailable)
	}
	proxy.Up()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := s.GetUser(ctx, "u1")
		if err == nil {
			if got.Username != "alice" {
				t.Errorf("GetUser after the database came back: got %q, want alice", got.Username)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetUser after the database came back: still %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := s.GetUser(ctx, "u2"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetUser u2 (whose create failed): got %v, want %v", err, storage.ErrNotFound)
	}
}

// changes collects what Watch delivers.
type changes struct {
	mu  sync.Mutex
	got []storage.Change
}

func (c *changes) add(ch storage.Change) { c.mu.Lock(); c.got = append(c.got, ch); c.mu.Unlock() }

// waitFor polls until want has been delivered, and returns what was.
func (c *changes) waitFor(t *testing.T, want storage.Change) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		ok := slices.Contains(c.got, want)
		c.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Fatalf("change %+v: not delivered; got %+v", want, c.got)
}

func (c *changes) reset() []storage.Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.got
	c.got = nil
	return got
}

// TestPostgresWatch changes records through one store and checks that
// another store's Watch reports exactly the changes caches care about.
func TestPostgresWatch(t *testing.T) {
	proxy, url := pgtest.NewProxy(t, pgtest.URL(t))
	watcher, writer := open(t, url), open(t, url)
	defer watcher.Close()
	defer writer.Close()
	ctx, cancel := context.WithCancel(t.Context())
	var c changes
	done := make(chan error, 1)
	go func() { done <- watcher.Watch(ctx, c.add) }()
	c.waitFor(t, storage.Change{Kind: storage.ChangeAll})
	c.reset()

	tctx := t.Context()
	now := time.Now()
	cl := storage.Client{ID: "c1", Name: "one", Source: storage.SourceDCR, CreatedAt: now, UpdatedAt: now}
	live := func(kind storage.TokenKind, sig, req string) storage.Token {
		return storage.Token{Kind: kind, Signature: sig, RequestID: req, ClientID: "c1", Subject: "u1",
			RequestedAt: now, ExpiresAt: now.Add(time.Hour), Active: true}
	}
	steps := []struct {
		name string
		do   func() error
		want []storage.Change // nil: nothing
	}{
		{"create client", func() error { return writer.CreateClient(tctx, cl) }, nil},
		{"create tokens", func() error {
			for _, tok := range []storage.Token{live(storage.KindAccess, "a1", "req-1"), live(storage.KindRefresh, "r1", "req-1"),
				live(storage.KindAccess, "a2", "req-2")} {
				if err := writer.CreateToken(tctx, tok); err != nil {
					return err
				}
			}
			return nil
		}, nil},
		{"touch client", func() error { return writer.TouchClient(tctx, "c1", now) }, nil},
		{"rotate refresh token", func() error { return writer.RotateRefreshToken(tctx, "req-1", "r1", now) },
			[]storage.Change{{Kind: storage.ChangeGrant, ID: "req-1"}}},
		{"revoke access tokens", func() error { _, err := writer.DeleteGrant(tctx, storage.KindAccess, "req-2"); return err },
			[]storage.Change{{Kind: storage.ChangeGrant, ID: "req-2"}}},
		{"update client", func() error { c := cl; c.Name = "renamed"; return writer.UpdateClient(tctx, c) },
			[]storage.Change{{Kind: storage.ChangeClient, ID: "c1"}}},
		{"new signing key", func() error {
			return writer.CreateSigningKey(tctx, storage.SigningKey{ID: "k1", Algorithm: "ES256", PrivateKey: []byte("k"), CreatedAt: now})
		}, []storage.Change{{Kind: storage.ChangeKeys}}},
		{"rolled back delete", func() error {
			tx, err := writer.BeginTx(tctx)
			if err != nil {
				return err
			}
			if err := writer.DeleteClient(tx, "c1"); err != nil {
				return err
			}
			return writer.Rollback(tx)
		}, nil},
		{"delete client", func() error { return writer.DeleteClient(tctx, "c1") },
			[]storage.Change{{Kind: storage.ChangeClient, ID: "c1"}}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		// A marker after each step: everything the step sent arrives
		// before it.
		marker := "marker-" + st.name
		if _, err := writer.pool.Exec(tctx, `SELECT pg_notify($1, 'client '||$2)`, writer.channel(), marker); err != nil {
			t.Fatal(err)
		}
		c.waitFor(t, storage.Change{Kind: storage.ChangeClient, ID: marker})
		got := c.reset()
		got = got[:len(got)-1]
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: got changes %+v, want %+v", st.name, got, st.want)
		}
	}

	// A lost connection is reported, and so is the return.
	proxy.Down()
	c.waitFor(t, storage.Change{Kind: storage.ChangeLost})
	proxy.Up()
	c.waitFor(t, storage.Change{Kind: storage.ChangeAll})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Watch after cancel: got %v, want %v", err, context.Canceled)
	}
}

// TestPostgresTryExclusive checks that a job runs on one store at a time.
func TestPostgresTryExclusive(t *testing.T) {
	url := pgtest.URL(t)
	a, b := open(t, url), open(t, url)
	defer a.Close()
	defer b.Close()
	ctx := t.Context()
	inside, release := make(chan struct{}), make(chan struct{})
	ranA := make(chan bool, 1)
	go func() {
		ok, err := a.TryExclusive(ctx, "gc", func(context.Context) { close(inside); <-release })
		if err != nil {
			t.Errorf("TryExclusive a: %v", err)
		}
		ranA <- ok
	}()
	<-inside
	ok, err := b.TryExclusive(ctx, "gc", func(context.Context) { t.Error("b ran while a held the job") })
	if err != nil || ok {
		t.Errorf("TryExclusive b while a runs: got %v, %v, want false, nil", ok, err)
	}
	ok, err = b.TryExclusive(ctx, "other", func(context.Context) {})
	if err != nil || !ok {
		t.Errorf("TryExclusive b of another job: got %v, %v, want true, nil", ok, err)
	}
	close(release)
	if !<-ranA {
		t.Errorf("TryExclusive a: got false, want true")
	}
	ok, err = b.TryExclusive(ctx, "gc", func(context.Context) {})
	if err != nil || !ok {
		t.Errorf("TryExclusive b after a: got %v, %v, want true, nil", ok, err)
	}
}

// TestPostgresOpenErrors checks that Open says what is wrong, without the
// password.
func TestPostgresOpenErrors(t *testing.T) {
	base := pgtest.URL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", "no_such_schema")
	u.RawQuery = q.Encode()
	tests := []struct {
		name string
		url  string
		want []string
	}{
		{"no URL", "", []string{"no PostgreSQL URL"}},
		{"unparsable", "postgres://u:pw@host:notaport/db", []string{"cannot be parsed"}},
		{"nobody listens", "postgres://u:secret-pw@127.0.0.1:1/db?connect_timeout=2", []string{"unavailable", "is PostgreSQL running", "xxxxx"}},
		{"missing schema", u.String(), []string{"CREATE SCHEMA"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), Config{URL: tc.url})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q): got nil error, want one", tc.url)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open(%q): got %q, want it to mention %q", tc.url, err, w)
				}
			}
			if strings.Contains(err.Error(), "secret-pw") || strings.Contains(err.Error(), ":pw@") {
				t.Errorf("Open(%q): the error %q shows the password", tc.url, err)
			}
		})
	}
}
