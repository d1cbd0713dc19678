//go:build linux

// The crash test runs the real binary as a child process, so it can kill it
// with SIGKILL. It is Linux-only for Pdeathsig, which takes the child down
// with the test binary even when go test's -timeout panics past t.Cleanup.

package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"
	_ "modernc.org/sqlite" // the "sqlite" driver, to read the database behind the server's back

	"github.com/tenantless/tenantless/e2e/browser"
)

const (
	crashIterations = 3
	// crashWorkers goroutines drive the storm, each on its own grant.
	crashWorkers = 32
	// crashRacers of the workers send every refresh twice at once. When
	// the loser's read comes after the winner's commit, reuse detection
	// revokes the grant; the racer then moves on to the next of its
	// crashRacerGrants grants.
	crashRacers      = 4
	crashRacerGrants = 4
	// crashStormLimit bounds a storm that never reaches its kill point.
	crashStormLimit = 20 * time.Second
)

// TestCrashSafety is issue 6's crash test. Each iteration authorizes a
// few dozen grants, rotates their refresh tokens from crashWorkers
// goroutines as fast as the server answers, kill -9s the server after a few
// hundred rotations, checks the database file as the crash left it, then
// restarts the server on the same file and port and checks what clients
// see.
//
// A rotation is one transaction (old refresh row deactivated, grant's access
// rows deleted, new access and refresh rows created) and the 200 is written
// after the commit, so a rotation the client saw succeed is durable. A
// request in flight at the kill may have committed without its answer
// arriving: the client then holds a token the server already rotated, and
// presenting it is reuse (invalid_grant, grant revoked). The test asserts
// exactly that split: a grant with nothing in flight at the kill has its
// last seen token as its one active refresh token, which works exactly once
// after the restart; a grant with a request in flight may be in either
// state, but the database must say which, whole, and the restarted server
// must agree with it.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary; skipped with -short")
	}
	start := time.Now()
	bin := buildBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	port := freePort(t)
	base := "http://localhost:" + port

	srv := startBinary(t, bin, db, port)
	var c clientJSON
	out := runBinary(t, bin, "client", "add", "--json", "--db", db, "--name", "crash test", "--redirect-uri", "http://127.0.0.1/callback")
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("client add --json printed %q: %v", out, err)
	}

	for iter := range crashIterations {
		b := browser.New(base)
		var grants []*crashGrant
		workers := make([][]*crashGrant, crashWorkers)
		for w := range workers {
			n := 1
			if w < crashRacers {
				n = crashRacerGrants
			}
			for range n {
				g := &crashGrant{id: len(grants), refresh: authorizeWith(t, b, base, c.ClientID).RefreshToken, racer: w < crashRacers}
				grants = append(grants, g)
				workers[w] = append(workers[w], g)
			}
		}
		killAt := int64(200 + 100*iter)
		st := storm(t, srv, base, c.ClientID, workers, killAt)
		if t.Failed() {
			t.Fatalf("iteration %d: the storm failed; server log:\n%s", iter, tail(srv.stderr.String()))
		}

		snap := checkCrashedDB(t, db, filepath.Join(dir, fmt.Sprintf("crash%d", iter)), grants)
		if t.Failed() {
			t.Fatalf("iteration %d: the crash left the database inconsistent; log of the killed server:\n%s", iter, tail(srv.stderr.String()))
		}

		srv = startBinary(t, bin, db, port)
		http.DefaultClient.CloseIdleConnections() // the helpers' connections died with the old process
		reuse := verifyAfterRestart(t, base, c.ClientID, grants, snap)

		// The database is still usable: a new sign-in, code exchange,
		// MCP session and refresh on the restarted server.
		tok := tokenFor(t, base, c.ClientID, "admin", adminPassword, "weather:read", base+"/mcp")
		session(t, base+"/mcp", tok.AccessToken)
		if r := refreshToken(&http.Client{Timeout: 10 * time.Second}, base, c.ClientID, tok.RefreshToken); r.err != nil || r.status != 200 {
			t.Errorf("iteration %d: refresh of a new grant after the restart: %d %+v %v, want 200", iter, r.status, r.tok, r.err)
		}

		t.Logf("iteration %d: %d grants, %d workers (%d racing), kill after %d rotations: %d rotations seen in %v, %d in flight at the kill "+
			"(%d of them committed, answer lost), races %d (%d lost in the transaction, %d revoked by reuse detection); "+
			"integrity_check %q, %d token rows, %d live grants in the file; after restart %d tokens worked once, %d refused as reused",
			iter, len(grants), crashWorkers, crashRacers, killAt, st.rotations, st.elapsed.Round(time.Millisecond), st.inFlight,
			snap.committedUnseen, st.races, st.racesSerialized, st.racesRevoked,
			snap.integrity, snap.rows, snap.activeGrants, reuse.workedOnce, reuse.refused)
		if t.Failed() {
			t.Fatalf("iteration %d failed after the restart; server log:\n%s", iter, tail(srv.stderr.String()))
		}
	}

	// A server that survived the crashes still shuts down cleanly, and
	// leaves a sound file.
	srv.interrupt(t)
	if got := integrityCheck(t, db); got != "ok" {
		t.Errorf("integrity_check after a clean shutdown: %q, want ok", got)
	}
	t.Logf("%d iterations in %v", crashIterations, time.Since(start).Round(time.Millisecond))
}

// crashGrant is one grant as its client sees it. Only its storm goroutine
// writes it; the test reads it after the storm.
type crashGrant struct {
	id int
	// refresh is the newest refresh token whose rotation the client saw
	// succeed (a 200 with its body read to the end).
	refresh string
	// racer grants send each refresh twice at once.
	racer bool
	// inFlight says a request that may have reached the server had no
	// answer when the server died.
	inFlight bool
	// revoked says a racing duplicate read refresh after the winner
	// rotated it: reuse detection revoked the grant.
	revoked bool
}

type stormStats struct {
	rotations, inFlight                  int64
	races, racesSerialized, racesRevoked int64
	elapsed                              time.Duration
}

// storm rotates refresh tokens in a loop, one goroutine per worker (a
// plain worker has one grant, a racer a queue of them), and kills the
// server with SIGKILL once killAt rotations have succeeded (or
// crashStormLimit passed).
func storm(t *testing.T, srv *binaryServer, base, clientID string, workers [][]*crashGrant, killAt int64) stormStats {
	t.Helper()
	hc := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 2 * len(workers), MaxConnsPerHost: 2 * len(workers)},
		Timeout:   30 * time.Second,
	}
	defer hc.CloseIdleConnections()
	var (
		st          stormStats
		rotations   atomic.Int64
		killed      atomic.Bool
		races       atomic.Int64
		serialized  atomic.Int64
		reuseRevoke atomic.Int64
		trigger     = make(chan struct{})
		once        sync.Once
		wg          sync.WaitGroup
	)
	rotated := func(g *crashGrant, tok tokenResponse) {
		g.refresh = tok.RefreshToken
		if rotations.Add(1) == killAt {
			once.Do(func() { close(trigger) })
		}
	}
	// lost reports a failed exchange; before the kill it is a test failure.
	lost := func(g *crashGrant, rs ...refreshResult) {
		for _, r := range rs {
			if r.err != nil && r.sent {
				g.inFlight = true
			}
		}
		if !killed.Load() {
			var errs []error
			for _, r := range rs {
				errs = append(errs, r.err)
			}
			t.Errorf("grant %d: refresh failed before the kill: %v", g.id, errors.Join(errs...))
		}
	}
	plain := func(g *crashGrant) {
		for !killed.Load() {
			r := refreshToken(hc, base, clientID, g.refresh)
			if r.err != nil {
				lost(g, r)
				return
			}
			if r.status != 200 || r.tok.RefreshToken == "" {
				t.Errorf("grant %d: refresh: %d %+v, want 200 with a refresh token", g.id, r.status, r.tok)
				return
			}
			rotated(g, r.tok)
		}
	}
	// race rotates g with pairs of concurrent refreshes. It reports true
	// when reuse detection revoked g and the worker should take its next
	// grant, false at the kill or on a failure.
	race := func(g *crashGrant) bool {
		for !killed.Load() {
			var rs [2]refreshResult
			var pair sync.WaitGroup
			for i := range rs {
				pair.Go(func() { rs[i] = refreshToken(hc, base, clientID, g.refresh) })
			}
			pair.Wait()
			races.Add(1)
			var win, lose *refreshResult
			for i := range rs {
				switch {
				case rs[i].err == nil && rs[i].status == 200:
					if win != nil {
						t.Errorf("grant %d: both concurrent refreshes of one token succeeded: the grant forked", g.id)
						return false
					}
					win = &rs[i]
				case rs[i].err == nil:
					lose = &rs[i]
				}
			}
			if win != nil {
				rotated(g, win.tok) // a 200 the client read is a rotation it saw
			}
			if rs[0].err != nil || rs[1].err != nil {
				lost(g, rs[:]...)
				return false
			}
			if win == nil {
				t.Errorf("grant %d: neither of two concurrent refreshes succeeded: %d %+v, %d %+v", g.id, rs[0].status, rs[0].tok, rs[1].status, rs[1].tok)
				return false
			}
			switch {
			case lose.status == 400 && lose.tok.Error == "invalid_request":
				serialized.Add(1) // both read the token; the winner's transaction came first
			case lose.status == 400 && lose.tok.Error == "invalid_grant":
				reuseRevoke.Add(1) // read after the winner's commit: reuse, the grant is revoked
				g.revoked = true
				return true
			default:
				t.Errorf("grant %d: the losing concurrent refresh got %d %+v, want 400 invalid_request or invalid_grant", g.id, lose.status, lose.tok)
				return false
			}
		}
		return false
	}

	begin := time.Now()
	for _, w := range workers {
		if !w[0].racer {
			wg.Go(func() { plain(w[0]) })
			continue
		}
		wg.Go(func() {
			for _, g := range w {
				if !race(g) {
					return
				}
			}
		})
	}
	ended := make(chan struct{})
	go func() { wg.Wait(); close(ended) }()
	timeout := time.NewTimer(crashStormLimit)
	defer timeout.Stop()
	select {
	case <-trigger:
	case <-ended:
		t.Errorf("every storm goroutine stopped before %d rotations", killAt)
	case <-timeout.C:
		t.Logf("only %d rotations in %v; killing anyway", rotations.Load(), crashStormLimit)
	}
	killed.Store(true)
	srv.kill(t)
	st.elapsed = time.Since(begin)
	<-ended
	st.rotations, st.races, st.racesSerialized, st.racesRevoked = rotations.Load(), races.Load(), serialized.Load(), reuseRevoke.Load()
	for _, w := range workers {
		for _, g := range w {
			if g.inFlight {
				st.inFlight++
			}
		}
	}
	return st
}

type refreshResult struct {
	status int
	tok    tokenResponse
	// err is a transport error or a body cut short: the answer was lost.
	err error
	// sent is false when the request certainly never reached the server.
	sent bool
}

// refreshToken redeems a refresh token. Unlike postForm it does not stop
// the test, so storm goroutines can call it.
func refreshToken(hc *http.Client, base, clientID, refresh string) refreshResult {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {clientID}}
	req, err := http.NewRequest(http.MethodPost, base+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return refreshResult{err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := hc.Do(req)
	if err != nil {
		return refreshResult{err: err, sent: !errors.Is(err, syscall.ECONNREFUSED)}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return refreshResult{status: res.StatusCode, err: err, sent: true}
	}
	r := refreshResult{status: res.StatusCode, sent: true}
	if err := json.Unmarshal(body, &r.tok); err != nil {
		r.tok.Error = fmt.Sprintf("unparsable body %q", body)
	}
	return r
}

// authorizeWith runs the code flow in b (signed in after its first use)
// and returns the tokens.
func authorizeWith(t *testing.T, b *browser.Browser, base, clientID string) tokenResponse {
	t.Helper()
	const redirect = "http://127.0.0.1:41000/callback"
	verifier := oauth2.GenerateVerifier()
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"crash-test-state"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
		"scope": {"weather:read"}, "resource": {base + "/mcp"},
	}
	loc, _, err := b.Authorize(base+"/authorize?"+q.Encode(), "admin", adminPassword, "allow")
	if err != nil {
		t.Fatal(err)
	}
	status, tok, _ := postForm(t, base+"/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier},
		"redirect_uri": {redirect}, "client_id": {clientID},
	}, "", "")
	if status != 200 || tok.RefreshToken == "" {
		t.Fatalf("code exchange: %d %+v, want 200 with a refresh token", status, tok)
	}
	return tok
}

// refreshSignature is what the tokens table stores of a refresh token:
// fosite's HMAC strategy keys rows by the part after the dot.
func refreshSignature(token string) string {
	_, sig, _ := strings.Cut(token, ".")
	return sig
}

type tokenRow struct {
	kind, signature, requestID, accessSignature string
	active                                      bool
}

type crashSnapshot struct {
	integrity       string
	rows            int
	activeGrants    int
	committedUnseen int
	// works says, per grant, whether the client's last seen refresh token
	// is still active, so must work once after the restart.
	works []bool
}

// checkCrashedDB copies the database and its write-ahead log as the kill
// left them (the restarted server recovers the original itself), and
// checks the copy: SQLite's integrity check, then every grant whole.
func checkCrashedDB(t *testing.T, db, snapDir string, grants []*crashGrant) crashSnapshot {
	t.Helper()
	if err := os.MkdirAll(snapDir, 0o700); err != nil {
		t.Fatal(err)
	}
	snapDB := filepath.Join(snapDir, "t.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(db + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(snapDB+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var snap crashSnapshot
	snap.integrity = integrityCheck(t, snapDB)
	if snap.integrity != "ok" {
		t.Errorf("integrity_check after kill -9: %q, want ok", snap.integrity)
	}
	conn := openDB(t, snapDB)
	var fk int
	if err := conn.QueryRow(`SELECT count(*) FROM pragma_foreign_key_check`).Scan(&fk); err != nil || fk != 0 {
		t.Errorf("foreign_key_check: %d violations (%v), want 0", fk, err)
	}

	rows, err := conn.Query(`SELECT kind, signature, request_id, active, access_signature FROM tokens WHERE kind IN ('access', 'refresh')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type grantRows struct {
		activeRefresh []tokenRow
		access        []string
	}
	byRequest := map[string]*grantRows{}
	refreshBySig := map[string]tokenRow{}
	for rows.Next() {
		var r tokenRow
		if err := rows.Scan(&r.kind, &r.signature, &r.requestID, &r.active, &r.accessSignature); err != nil {
			t.Fatal(err)
		}
		snap.rows++
		g := byRequest[r.requestID]
		if g == nil {
			g = &grantRows{}
			byRequest[r.requestID] = g
		}
		switch {
		case r.kind == "access":
			g.access = append(g.access, r.signature)
		case r.active:
			g.activeRefresh = append(g.activeRefresh, r)
			refreshBySig[r.signature] = r
		default:
			refreshBySig[r.signature] = r
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	// Every grant in the file is whole: one active refresh token with its
	// own access token and no other, or (revoked) neither.
	for id, g := range byRequest {
		switch len(g.activeRefresh) {
		case 0:
			if len(g.access) != 0 {
				t.Errorf("grant %s has no active refresh token but %d access tokens: revoked half-way", id, len(g.access))
			}
		case 1:
			snap.activeGrants++
			if want := g.activeRefresh[0].accessSignature; len(g.access) != 1 || g.access[0] != want {
				t.Errorf("grant %s: active refresh token's access token %q, access rows %q: want exactly that one", id, want, g.access)
			}
		default:
			t.Errorf("grant %s has %d active refresh tokens: forked", id, len(g.activeRefresh))
		}
	}

	// Each client's view agrees with the file.
	seen := map[string]int{}
	for _, g := range grants {
		row, ok := refreshBySig[refreshSignature(g.refresh)]
		if !ok {
			t.Errorf("grant %d: the client's last refresh token has no row", g.id)
			snap.works = append(snap.works, false)
			continue
		}
		if other, dup := seen[row.requestID]; dup {
			t.Errorf("grants %d and %d share request ID %s", other, g.id, row.requestID)
		}
		seen[row.requestID] = g.id
		active := byRequest[row.requestID].activeRefresh
		snap.works = append(snap.works, row.active)
		switch {
		case g.inFlight:
			// Either state, as long as it is whole (checked above). A plain
			// grant is never revoked: it sent no token twice.
			if !row.active && !g.racer && len(active) != 1 {
				t.Errorf("grant %d: rotated by a request lost in the kill but has %d active refresh tokens, want 1", g.id, len(active))
			}
			if !row.active && len(active) == 1 {
				snap.committedUnseen++
			}
		case g.revoked:
			if len(active) != 0 {
				t.Errorf("grant %d: revoked by reuse detection before the kill but has %d active refresh tokens", g.id, len(active))
			}
		default:
			if !row.active || len(active) != 1 {
				t.Errorf("grant %d: nothing in flight at the kill, but its last seen refresh token is active=%v among %d active: "+
					"a rotation the client saw succeed was lost, or one it never sent happened", g.id, row.active, len(active))
			}
		}
	}
	return snap
}

type reuseStats struct{ workedOnce, refused int }

// verifyAfterRestart presents every grant's last seen refresh token to the
// restarted server: an active one must work exactly once (and its reuse
// revoke the grant, the token just issued included); any other must be
// refused as invalid_grant.
//
// Whether a token is active is the file's verdict, which checkCrashedDB
// already held against the client's view: for grants with nothing in
// flight at the kill the two agree, for the others the file decides.
func verifyAfterRestart(t *testing.T, base, clientID string, grants []*crashGrant, snap crashSnapshot) reuseStats {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	var st reuseStats
	for i, g := range grants {
		works := snap.works[i]
		first := refreshToken(hc, base, clientID, g.refresh)
		if first.err != nil {
			t.Fatalf("grant %d: refresh after restart: %v", g.id, first.err)
		}
		if !works {
			if first.status != 400 || first.tok.Error != "invalid_grant" {
				t.Errorf("grant %d (in flight %v, revoked %v): rotated or revoked token after restart: %d %+v, want 400 invalid_grant",
					g.id, g.inFlight, g.revoked, first.status, first.tok)
			}
			st.refused++
			continue
		}
		if first.status != 200 {
			t.Errorf("grant %d (in flight %v): last seen refresh token after restart: %d %+v, want 200", g.id, g.inFlight, first.status, first.tok)
			continue
		}
		st.workedOnce++
		for _, tc := range []struct{ what, token string }{
			{"the same token again", g.refresh},
			{"the token the restart issued, after reuse", first.tok.RefreshToken},
		} {
			if r := refreshToken(hc, base, clientID, tc.token); r.err != nil || r.status != 400 || r.tok.Error != "invalid_grant" {
				t.Errorf("grant %d: %s: %d %+v %v, want 400 invalid_grant", g.id, tc.what, r.status, r.tok, r.err)
			}
		}
	}
	return st
}

func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	conn, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// integrityCheck runs PRAGMA integrity_check and joins its rows.
func integrityCheck(t *testing.T, path string) string {
	t.Helper()
	conn := openDB(t, path)
	rows, err := conn.Query(`PRAGMA integrity_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "; ")
}

// buildBinary builds cmd/tenantless into the test's temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go") // go test puts GOROOT/bin first in PATH
	if err != nil {
		t.Skipf("no go command to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "tenantless")
	cmd := exec.CommandContext(t.Context(), goBin, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// childEnv is the test's environment without TENANTLESS_* settings, which
// would change the child's flags.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TENANTLESS_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// runBinary runs a non-serve command of the built binary.
func runBinary(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Env = childEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tenantless %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// binaryServer is a running "tenantless serve" child process.
type binaryServer struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{} // closed once Wait returned
	err    error         // Wait's result, set before exited closes
}

// startBinary starts the binary serving db on 127.0.0.1:port, with extra
// flags, and waits until it answers. The test's cleanup kills it if it
// still runs.
func startBinary(t *testing.T, bin, db, port string, extra ...string) *binaryServer {
	t.Helper()
	s := &binaryServer{stderr: &syncBuffer{}, exited: make(chan struct{})}
	// The storm asserts that of concurrent refreshes exactly one wins.
	s.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:" + port, "--db", db, "--weather", "offline", "--access-token-ttl", "1h",
		"--refresh-reuse-grace", "0"}, extra...)...)
	s.cmd.Env = childEnv("TENANTLESS_ADMIN_PASSWORD=" + adminPassword)
	s.cmd.Stdout, s.cmd.Stderr = s.stderr, s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})

	metadata := "http://127.0.0.1:" + port + "/.well-known/oauth-authorization-server"
	hc := &http.Client{Timeout: 2 * time.Second}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if res, err := hc.Get(metadata); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer %s within 30s:\n%s", metadata, tail(s.stderr.String()))
		}
		select {
		case <-s.exited:
			t.Fatalf("serve exited before it was ready (%v):\n%s", s.err, tail(s.stderr.String()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *binaryServer) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	<-s.exited
	var ee *exec.ExitError
	if !errors.As(s.err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("after kill -9 the server ended with %v, want killed by SIGKILL", s.err)
	}
}

// interrupt stops the server as Ctrl-C would and wants exit status 0.
func (s *binaryServer) interrupt(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop within 30s of SIGINT:\n%s", tail(s.stderr.String()))
	}
	if s.err != nil {
		t.Errorf("serve after SIGINT: %v, want exit 0:\n%s", s.err, tail(s.stderr.String()))
	}
}

// tail returns the end of a server log, enough to see why it failed.
func tail(log string) string {
	const n = 4000
	if len(log) > n {
		return "..." + log[len(log)-n:]
	}
	return log
}
