package authz_test

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tenantless/tenantless/storage/sqlite"
)

// The seeded database's size; the figures are the defaults. A
// smaller database seeds faster (-seed-clients 1000 -seed-grants 10000).
var (
	seedClients = flag.Int("seed-clients", 100_000, "BenchmarkFlowSeededDatabase: dynamically registered clients to seed")
	seedGrants  = flag.Int("seed-grants", 1_000_000, "BenchmarkFlowSeededDatabase: expired token rows to seed")
)

// BenchmarkFlowSeededDatabase compares the signed-in flow (authorize and
// token, as BenchmarkFlow) on an empty database with the same flow on a
// database holding 100 000 clients and 1 000 000 expired token rows (codes,
// PKCE rows, access and refresh tokens of ~1 KiB each, as the server
// writes them), before and after the expired rows are swept. The issue's
// target: the seeded rate within 20 % of the empty one. Between the two
// seeded runs, "sweep" times the removal of the expired rows (storage
// GarbageCollect, which the server runs at start and every --gc-interval)
// while a signed-in flow runs beside it, and reports how long those flows
// took.
//
// Seeding takes tens of seconds, so the benchmark is skipped with -short.
func BenchmarkFlowSeededDatabase(b *testing.B) {
	if testing.Short() {
		b.Skip("seeds a large database; skipped with -short")
	}
	// The servers are made on first use, so that a -bench pattern that
	// selects none of the sub-benchmarks does not pay for the seeding.
	// They belong to the parent benchmark, which outlives the
	// sub-benchmarks.
	parent := b
	dir := b.TempDir()
	type server struct {
		h   *benchAS
		jar []*http.Cookie
	}
	empty := sync.OnceValue(func() server {
		h := newBenchASAt(parent, filepath.Join(dir, "empty.db"))
		return server{h, h.signInAndConsent(parent)}
	})
	seeded := sync.OnceValue(func() server {
		path := filepath.Join(dir, "seeded.db")
		start := time.Now()
		seedDatabase(parent, path, *seedClients, *seedGrants)
		parent.Logf("seeded %d clients and %d expired token rows in %s", *seedClients, *seedGrants, time.Since(start).Round(time.Millisecond))
		h := newBenchASAt(parent, path)
		return server{h, h.signInAndConsent(parent)}
	})
	runFlows := func(srv func() server) func(b *testing.B) {
		return func(b *testing.B) {
			s := srv()
			defer reportCPU(b)()
			for b.Loop() {
				if _, err := s.h.flow(s.jar); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("empty", runFlows(empty))
	b.Run("seeded", runFlows(seeded))

	// The sweep, once, with a flow running beside it. Its ns/op is the
	// sweep's duration; the metrics say what the flow beside it saw.
	var sweep struct {
		once     sync.Once
		rows     int64
		took     time.Duration
		lat      []time.Duration
		err      error
		fatalErr error
	}
	b.Run("sweep", func(b *testing.B) {
		sweep.once.Do(func() {
			seeded := seeded()
			type swept struct {
				rows int64
				took time.Duration
				err  error
			}
			done := make(chan swept, 1)
			go func() {
				// The server's own store, as its garbage collector uses it.
				t0 := time.Now()
				r, err := seeded.h.store.GarbageCollect(context.Background(), time.Now())
				done <- swept{r.Tokens, time.Since(t0), err}
			}()
			for {
				select {
				case r := <-done:
					sweep.rows, sweep.took, sweep.err = r.rows, r.took, r.err
					slices.Sort(sweep.lat)
					return
				default:
				}
				t0 := time.Now()
				if _, err := seeded.h.flow(seeded.jar); err != nil {
					sweep.fatalErr = err
				}
				sweep.lat = append(sweep.lat, time.Since(t0))
			}
		})
		if err := errors.Join(sweep.err, sweep.fatalErr); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(sweep.took.Nanoseconds()), "ns/op")
		b.ReportMetric(float64(sweep.rows), "rows")
		if n := len(sweep.lat); n > 0 {
			b.ReportMetric(float64(n), "flows-beside")
			b.ReportMetric(float64(sweep.lat[n/2].Microseconds())/1000, "flow-p50-ms")
			b.ReportMetric(float64(sweep.lat[n-1].Microseconds())/1000, "flow-max-ms")
		}
	})
	b.Run("swept", runFlows(seeded))
}

// seedDatabase creates a migrated database at path and fills it, in one
// transaction of set-based INSERTs, with clients dynamically registered
// clients (used today, so no sweep removes them) and grants expired token
// rows spread over them.
//
// To seed in seconds rather than minutes it writes without a journal,
// inserts the token rows in primary-key order (signatures "seed000...",
// which no real token has), and builds the secondary indexes after the
// rows, from the schema's own CREATE INDEX statements. The result is the
// same schema and the same indexes a server would have.
func seedDatabase(tb testing.TB, path string, clients, grants int) {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.Close(); err != nil {
		tb.Fatal(err)
	}
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path}).String()+
		"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=cache_size(-524288)")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_schema
		WHERE type = 'index' AND tbl_name = 'tokens' AND sql IS NOT NULL`)
	if err != nil {
		tb.Fatal(err)
	}
	var indexes [][2]string
	for rows.Next() {
		var name, create string
		if err := rows.Scan(&name, &create); err != nil {
			tb.Fatal(err)
		}
		indexes = append(indexes, [2]string{name, create})
	}
	if err := rows.Close(); err != nil {
		tb.Fatal(err)
	}
	for _, ix := range indexes {
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+ix[0]+`"`); err != nil {
			tb.Fatal(err)
		}
	}
	now := time.Now().Unix()
	if _, err := tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
		INSERT INTO clients (id, name, redirect_uris, grant_types, response_types, scopes,
			token_endpoint_auth_method, source, metadata, registration_token_hash,
			created_at, updated_at, expires_at, last_used_at)
		SELECT 'dcr_seed_' || i, 'seeded client ' || i, '["http://127.0.0.1/callback"]',
			'["authorization_code","refresh_token"]', '["code"]', '["weather:read","weather:alerts"]',
			'none', 'dcr', zeroblob(260), randomblob(32), ?1, ?1, 0, ?1
		FROM n`, now, clients); err != nil {
		tb.Fatal(err)
	}
	// A quarter of each kind; the request ID is shared by four rows, as a
	// grant's code, PKCE row and tokens share one. Expired a day ago.
	if _, err := tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?2 - 1)
		INSERT INTO tokens (kind, signature, request_id, client_id, subject, requested_at, expires_at,
			active, access_signature, data)
		SELECT CASE (4 * i) / ?2 WHEN 0 THEN 'access' WHEN 1 THEN 'code' WHEN 2 THEN 'pkce' ELSE 'refresh' END,
			printf('seed%039d', i), printf('seed-%08d', i % (?2 / 4 + 1)), 'dcr_seed_' || (i % ?3 + 1),
			'user_seed', ?1 - 40 * 86400, ?1 - 86400, i % 2, '', zeroblob(950)
		FROM n`, now, grants, max(clients, 1)); err != nil {
		tb.Fatal(err)
	}
	for _, ix := range indexes {
		if _, err := tx.ExecContext(ctx, ix[1]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}
