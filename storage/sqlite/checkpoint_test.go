package sqlite

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantless/tenantless/storage"
)

// TestCheckpointerBoundsLog writes, from several goroutines at once, far
// more than the log would hold if it were never restarted, and checks that
// the log file (which SQLite reuses, never shrinks) stayed small: the
// checkpointer copied it into the database and let writers start it over,
// although they never stopped writing. Every row is there after a reopen.
//
// The checkpointer is a goroutine racing four writers: on a machine busy
// with other work it can be starved for a whole run. So the run is tried
// up to three times, on a fresh database each, and one bounded log
// passes; a checkpointer that never restarts the log fails all three (it
// reached 68 MiB each time with the first step of a round alone).
func TestCheckpointerBoundsLog(t *testing.T) {
	const attempts = 3
	var failures []string
	for a := range attempts {
		problems := checkpointRun(t, filepath.Join(t.TempDir(), fmt.Sprintf("attempt%d.db", a)))
		if len(problems) == 0 {
			return
		}
		failures = append(failures, fmt.Sprintf("attempt %d: %s", a+1, strings.Join(problems, "; ")))
	}
	t.Errorf("the checkpointer did not bound the log in %d attempts:\n%s", attempts, strings.Join(failures, "\n"))
}

// checkpointRun is one run of TestCheckpointerBoundsLog on a new database
// at path. It fails t for lost rows and returns what went wrong with the
// checkpoints, if anything.
func checkpointRun(t *testing.T, path string) (problems []string) {
	t.Helper()
	s := openFile(t, path)
	const (
		writers = 4
		each    = 500
	)
	// A 3 KiB row fills most of a page: with its index entries, each write
	// appends several pages to the log.
	data := []byte(strings.Repeat("x", 3<<10))
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := s.CreateToken(t.Context(), storage.Token{
					Kind: storage.KindAccess, Signature: fmt.Sprintf("sig-%d-%d", w, i), RequestID: fmt.Sprintf("req-%d-%d", w, i),
					ClientID: "client", Subject: "user", RequestedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour),
					Active: true, Data: data,
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	runs, fails := s.ck.runs.Load(), s.ck.fails.Load()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)

	if fails > 0 {
		problems = append(problems, fmt.Sprintf("%d checkpoint rounds failed", fails))
	}
	if min := uint64(writers * each / checkpointEvery / 2); runs < min {
		problems = append(problems, fmt.Sprintf("%d checkpoint rounds for %d writes, want at least %d", runs, writers*each, min))
	}
	// A round starts every 128 writes and the log restarts after it; a run
	// that ended at 16 MiB or less on an idle machine may reach twice that
	// on a busy one, and one that never restarts reaches 68 MiB.
	if fi.Size() > 32<<20 {
		problems = append(problems, fmt.Sprintf("the log grew to %d MiB: it was not restarted", fi.Size()>>20))
	}
	t.Logf("%d writes, %d checkpoint rounds, log at most %.1f MiB", writers*each, runs, float64(fi.Size())/(1<<20))

	s = openFile(t, path)
	defer closeStore(t, s)
	var n int
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM tokens`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != writers*each {
		t.Errorf("after reopening: %d token rows, want %d", n, writers*each)
	}
	return problems
}

// TestCheckpointerRunsAfterFewWrites: a few writes, far fewer than
// checkpointEvery (one garbage-collection batch may write thousands of
// pages), are checkpointed within about checkpointInterval; an idle store
// runs no rounds.
func TestCheckpointerRunsAfterFewWrites(t *testing.T) {
	s := openFile(t, filepath.Join(t.TempDir(), "tenantless.db"))
	defer closeStore(t, s)
	time.Sleep(3 * checkpointInterval)
	if n := s.ck.runs.Load(); n != 0 {
		t.Fatalf("an idle store ran %d checkpoint rounds", n)
	}
	for i := range 3 {
		if err := s.AppendAudit(t.Context(), storage.AuditEvent{Time: time.Now(), Type: fmt.Sprintf("test.%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.ck.runs.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s.ck.runs.Load() == 0 {
		t.Fatal("three writes were not checkpointed within 10s")
	}
	// A round that began between the writes is followed by one more for
	// the writes after it; then the store is idle again.
	time.Sleep(3 * checkpointInterval)
	runs := s.ck.runs.Load()
	time.Sleep(3 * checkpointInterval)
	if n := s.ck.runs.Load(); n != runs {
		t.Errorf("%d more rounds without writes", n-runs)
	}
}

// TestMemoryStoreHasNoCheckpointer: an in-memory database has no log.
func TestMemoryStoreHasNoCheckpointer(t *testing.T) {
	s, err := Open(t.Context(), Config{Memory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(t, s)
	if s.ck != nil {
		t.Error("an in-memory store started a checkpointer")
	}
}

// syncLog is a concurrency-safe buffer for a slog handler.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestCheckpointerLogsFailures breaks the checkpoint connection: the
// failure reaches the store's logger with a message that says what it
// means, once, not once per round.
func TestCheckpointerLogsFailures(t *testing.T) {
	var out syncLog
	s, err := Open(t.Context(), Config{Path: filepath.Join(t.TempDir(), "tenantless.db"), Logger: slog.New(slog.NewTextHandler(&out, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(t, s)
	if err := s.ck.db.Close(); err != nil { // every later round fails
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; s.ck.fails.Load() < 3 && time.Now().Before(deadline); i++ {
		if err := s.AppendAudit(t.Context(), storage.AuditEvent{Time: time.Now(), Type: fmt.Sprintf("test.%d", i)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s.ck.fails.Load() < 3 {
		t.Fatalf("%d failed rounds within 10s, want 3", s.ck.fails.Load())
	}
	got := out.String()
	if n := strings.Count(got, "sqlite WAL checkpoint failed"); n != 1 {
		t.Errorf("%d failure records for %d failed rounds, want 1 (then one a minute):\n%s", n, s.ck.fails.Load(), got)
	}
	for _, want := range []string{"level=ERROR", "database is closed", "failed_rounds=1", "-wal file"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
}

// TestCheckpointerLogThrottle checks the one-a-minute rule and the record
// of recovery with a moved clock.
func TestCheckpointerLogThrottle(t *testing.T) {
	var out syncLog
	log := slog.New(slog.NewTextHandler(&out, nil))
	c := &checkpointer{}
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		c.failed(log, errors.New("disk I/O error"), t0.Add(time.Duration(i)*10*time.Second))
	}
	c.failed(log, errors.New("disk I/O error"), t0.Add(61*time.Second))
	c.recovered(log)
	c.recovered(log)
	got := out.String()
	if n := strings.Count(got, "checkpoint failed"); n != 2 {
		t.Errorf("%d failure records, want 2 (the first, and one after a minute):\n%s", n, got)
	}
	if !strings.Contains(got, "failed_rounds=6") || strings.Count(got, "works again") != 1 {
		t.Errorf("want the sixth failure counted and one recovery record:\n%s", got)
	}
}
