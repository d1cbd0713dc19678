package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUsageErrors: every usage error exits 2 with one line that says what
// to change (a format with an example, once, and no usage text dump), and
// creates no database; a runtime failure exits 1. No message carries an
// internal package prefix.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // substrings of stderr
	}{
		{"duration flag", []string{"serve", "--access-token-ttl", "5"}, nil, []string{"--access-token-ttl", "duration", "for example 90s"}},
		{"duration flag of audit", []string{"audit", "--since", "yesterday"}, nil, []string{"--since", "duration", "for example"}},
		{"duration flag of initial-token", []string{"initial-token", "add", "--ttl", "1d"}, nil, []string{"--ttl", "for example"}},
		{"duration in the environment", []string{"audit"}, map[string]string{"TENANTLESS_SINCE": "soon"}, []string{"TENANTLESS_SINCE", "for example"}},
		{"whole number flag", []string{"audit", "--limit", "many"}, nil, []string{"--limit", "whole number"}},
		{"flag without a value", []string{"audit", "--db", "DB", "--since"}, nil, []string{"--since", "needs a value"}},
		{"addr without a port", []string{"serve", "--addr", "notaport"}, nil, []string{"--addr", "needs a port", "localhost:8080"}},
		{"issuer not a URL", []string{"serve", "--issuer", "auth.example.com"}, nil, []string{"--issuer", "absolute URL"}},
		{"issuer scheme", []string{"serve", "--issuer", "ftp://auth.example.com"}, nil, []string{"--issuer", "https"}},
		{"issuer trailing slash", []string{"serve", "--issuer", "https://auth.example.com/"}, nil, []string{"--issuer", "trailing slash"}},
		{"registration mode", []string{"serve", "--registration", "closed"}, nil, []string{"--registration", "open, token or off"}},
		{"metadata document host", []string{"serve", "--cimd-allow-host", "https://127.0.0.1:8443"}, nil, []string{"HOST:PORT"}},
		{"weather mode", []string{"serve", "--weather", "sunny"}, nil, []string{"--weather", "offline"}},
		{"log level", []string{"serve", "--log-level", "loud"}, nil, []string{"--log-level", "debug"}},
		{"rate limits mode", []string{"serve", "--rate-limits", "some"}, nil, []string{"--rate-limits"}},
		{"redirect URI scheme", []string{"client", "add", "--redirect-uri", "ftp://x/cb"}, nil, []string{"--redirect-uri", "ftp"}},
		{"redirect URI http not loopback", []string{"client", "add", "--redirect-uri", "http://app.example/cb"}, nil, []string{"--redirect-uri", "https"}},
		{"redirect URI not a URL", []string{"client", "add", "--redirect-uri", "::nonsense"}, nil, []string{"--redirect-uri"}},
		{"metadata URL", []string{"client", "add", "--metadata-url", "http://x/doc.json", "--from-file", "doc.json"}, nil, []string{"--metadata-url"}},
		{"no redirect URI", []string{"client", "add"}, nil, []string{"--redirect-uri"}},
		{"audit type", []string{"audit", "--type", "tokens"}, nil, []string{"--type", "token.issued", "consent.revoked"}},
		{"audit actor", []string{"audit", "--actor", "admin"}, nil, []string{"--actor", "cli or server"}},
		{"user name", []string{"user", "add", "no spaces"}, nil, []string{"no spaces"}},
		{"empty --db", []string{"user", "list", "--db", ""}, nil, []string{"--db is empty"}},
		{"in-memory --db", []string{"serve", "--db", ":memory:"}, nil, []string{"--db :memory:"}},
		{"unknown command", []string{"frobnicate"}, nil, []string{"frobnicate", "tenantless --help"}},
		{"unknown subcommand", []string{"user", "rename"}, nil, []string{"rename", "add, list, passwd or delete"}},
		{"missing subcommand", []string{"keys"}, nil, []string{"list or rotate"}},
		{"wrong argument count", []string{"client", "show"}, nil, []string{"CLIENT_ID"}},
		{"arguments to version", []string{"version", "extra"}, nil, []string{"no arguments"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := testEnv(tc.env)
			args := slices.Clone(tc.args)
			if i := slices.Index(args, "DB"); i >= 0 {
				args[i] = db
			} else if args[0] != "version" && args[0] != "frobnicate" && !slices.Contains(args, "--db") {
				args = append(args, "--db", db)
			}
			// A serve that wrongly starts stops after a while, and fails.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			code := run(ctx, args, e)
			stderr := e.Stderr.(*syncBuffer).String()
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q: want it to mention %q", stderr, w)
				}
			}
			if n := strings.Count(stderr, "\n"); n != 1 || strings.Contains(stderr, "Usage:") || strings.Count(stderr, "for example") > 1 {
				t.Errorf("stderr %q: want one line, no usage text, at most one example", stderr)
			}
			checkNoInternalPrefix(t, stderr)
			if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a usage error created the database")
				_ = os.Remove(db)
			}
		})
	}
	if code, out, _ := runCLI(t, "", "--version"); code != 0 || !strings.HasPrefix(out, "tenantless ") {
		t.Errorf("tenantless --version: exit %d, %q", code, out)
	}
	// Flags may come before the subcommand.
	if code, out, errOut := runCLI(t, "", "user", "--db", db, "--json", "list"); code != 1 || out != "" || !strings.Contains(errOut, "no database at") {
		t.Errorf("user --db DB --json list on a missing database: exit %d, stdout %q, stderr %q; want 1 and no database", code, out, errOut)
	}
	// Runtime failures exit 1.
	cli(t, "pw-of-erin-12345\n", "user", "add", "erin", "--db", db)
	for _, args := range [][]string{
		{"client", "show", "static_nobody", "--db", db},
		{"user", "delete", "nobody", "--db", db},
		{"grant", "revoke", "no-such-grant", "--db", db},
		{"initial-token", "delete", "abcdef", "--db", db},
		{"user", "add", "erin", "--db", db},    // exists
		{"user", "passwd", "erin", "--db", db}, // no password on stdin
	} {
		e := testEnv(nil)
		if code := run(t.Context(), args, e); code != 1 {
			t.Errorf("tenantless %s: exit %d, want 1 (%s)", strings.Join(args, " "), code, e.Stderr.(*syncBuffer))
		}
		checkNoInternalPrefix(t, e.Stderr.(*syncBuffer).String())
	}
}

// internalPrefix matches a Go package prefix such as "authz: " or a bare
// SQLite result code such as "(14)".
var internalPrefix = regexp.MustCompile(`\b(authz|storage|sqlite|cimd|resource|web|fosite): |\(\d+\)$`)

func checkNoInternalPrefix(t *testing.T, msg string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(msg), "\n") {
		if internalPrefix.MatchString(line) {
			t.Errorf("message %q carries an internal prefix or a bare SQLite code", line)
		}
	}
}

// TestServeDefaults: the default listen address is localhost:8080 (both
// loopback addresses), as the README says.
func TestServeDefaults(t *testing.T) {
	code, out, _ := runCLI(t, "", "serve", "--help")
	if code != 0 || !strings.Contains(out, `(default "localhost:8080")`) {
		t.Errorf("serve --help: exit %d, want the default localhost:8080:\n%s", code, out)
	}
}

// hasIPv6Loopback reports whether [::1] can be listened on here.
func hasIPv6Loopback() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// jsonServer is the built binary running serve --json.
type jsonServer struct {
	info   readyInfo // what it printed when ready
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{} // closed when it has exited
}

// startJSON starts the built binary with serve --json and the given flags
// and waits for the ready object it prints on stdout.
func startJSON(t *testing.T, bin string, args ...string) *jsonServer {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--json", "--weather", "offline"}, args...)...)
	cmd.Env = childEnv("TENANTLESS_ADMIN_PASSWORD=" + adminPassword)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	lines := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if sc.Text() == "}" {
				lines <- b.String()
				return
			}
		}
		close(lines)
	}()
	var info readyInfo
	select {
	case s, ok := <-lines:
		if !ok {
			t.Fatalf("serve --json printed no ready object:\n%s", stderr)
		}
		if err := json.Unmarshal([]byte(s), &info); err != nil {
			t.Fatalf("serve --json printed %q: %v", s, err)
		}
		var v any
		_ = json.Unmarshal([]byte(s), &v)
		checkKeys(t, "serve --json", v)
	case <-time.After(30 * time.Second):
		t.Fatalf("serve --json: no ready object within 30 s:\n%s", stderr)
	}
	return &jsonServer{info: info, cmd: cmd, stderr: stderr, exited: exited}
}

// TestLoopbackSpellings starts the real binary on localhost:PORT and
// reaches it as localhost, 127.0.0.1 and [::1]; each spelling gets the
// protected resource metadata of its own URL.
func TestLoopbackSpellings(t *testing.T) {
	if !hasIPv6Loopback() {
		t.Skip("this machine has no IPv6 loopback address")
	}
	bin := buildBinary(t)
	port := freePort(t)
	srv := startJSON(t, bin, "--addr", "localhost:"+port, "--db", filepath.Join(t.TempDir(), "t.db"))
	info, stderr := srv.info, srv.stderr
	if want := []string{"127.0.0.1:" + port, "[::1]:" + port}; strings.Join(info.Listen, " ") != strings.Join(want, " ") {
		t.Errorf("listening on %v, want %v", info.Listen, want)
	}
	if info.Issuer != "http://localhost:"+port || info.AdminUsername != "admin" || info.AdminPassword != "" {
		t.Errorf("ready object %+v: want issuer http://localhost:%s, admin, and no password (it came from the environment)", info, port)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	for _, host := range []string{"localhost", "127.0.0.1", "[::1]"} {
		base := "http://" + host + ":" + port
		res, err := hc.Get(base + "/.well-known/oauth-protected-resource/mcp")
		if err != nil {
			t.Errorf("%s: %v\n%s", base, err, tail(stderr.String()))
			continue
		}
		var md struct {
			Resource string `json:"resource"`
		}
		err = json.NewDecoder(res.Body).Decode(&md)
		res.Body.Close()
		if res.StatusCode != 200 || err != nil || md.Resource != base+"/mcp" {
			t.Errorf("%s: status %d, resource %q (%v); want 200 and %s/mcp", base, res.StatusCode, md.Resource, err, base)
		}
		// The MCP endpoint itself answers on each, with its challenge.
		res, err = hc.Post(base+"/mcp", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Errorf("POST %s/mcp: %v", base, err)
			continue
		}
		res.Body.Close()
		if res.StatusCode != 401 || !strings.Contains(res.Header.Get("WWW-Authenticate"), base+"/.well-known/oauth-protected-resource/mcp") {
			t.Errorf("POST %s/mcp: %d %q, want 401 pointing at its own metadata", base, res.StatusCode, res.Header.Get("WWW-Authenticate"))
		}
	}
}

// TestSecondServeRefused: a second serve on the database a running server
// serves refuses to start and names the first process; the CLI still
// works beside the server, and once the first stops, a new one starts.
func TestSecondServeRefused(t *testing.T) {
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "t.db")
	srv := startJSON(t, bin, "--addr", "127.0.0.1:0", "--db", db)
	first := srv.cmd

	second := exec.CommandContext(t.Context(), bin, "serve", "--addr", "127.0.0.1:0", "--db", db, "--weather", "offline")
	second.Env = childEnv()
	out, err := second.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("second serve: %v, want exit 1:\n%s", err, out)
	}
	if want := fmt.Sprintf("process %d", first.Process.Pid); !strings.Contains(string(out), want) || !strings.Contains(string(out), db) {
		t.Errorf("second serve said %q, want the database and %q", out, want)
	}
	if strings.Contains(string(out), "tenantless is ready") {
		t.Error("the second server announced itself ready")
	}
	if out := runBinary(t, bin, "user", "list", "--db", db); !strings.Contains(out, "admin") {
		t.Errorf("user list beside the server: %q", out)
	}

	if err := first.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the first server did not stop within 20 s of SIGINT")
	}
	startJSON(t, bin, "--addr", "127.0.0.1:0", "--db", db)
}

// TestDatabaseErrors runs the binary on databases that cannot work and
// checks that serve and a command that writes each say what is wrong,
// with exit 1 and no bare SQLite code. Permission cases need a user that
// file modes apply to: as root the binary runs as nobody.
func TestDatabaseErrors(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	runBinary(t, bin, "keys", "rotate", "--db", good)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	var cred *syscall.Credential
	uid := os.Geteuid()
	if uid == 0 {
		uid = 65534
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		// nobody must reach the files: open the way down to them.
		for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if cred != nil {
		probe := exec.CommandContext(t.Context(), bin, "version")
		probe.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := probe.CombinedOutput(); err != nil {
			t.Logf("cannot run the binary as nobody (%v: %s): the permission cases are skipped", err, out)
			cred = nil
		}
	}
	write := func(name string, data []byte, mode fs.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, -1); err != nil && os.Geteuid() == 0 {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notSQLite := write("notes.txt", []byte("these are my notes, not a database\n"), 0o600)
	readOnly := write("ro.db", data, 0o400)
	unreadable := write("none.db", data, 0o000)
	lockedDir := filepath.Join(dir, "locked")
	if err := os.Mkdir(lockedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	inLocked := filepath.Join(lockedDir, "x.db")
	if err := os.WriteFile(inLocked, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chown(inLocked, uid, -1)
	if err := os.Chmod(lockedDir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(lockedDir, 0o755) })
	tests := []struct {
		name, db string
		want     []string
		asUser   bool // needs file modes to apply
	}{
		{"under /proc", "/proc/tenantless.db", []string{"/proc", "virtual file system", "cannot hold a database"}, false},
		{"not SQLite", notSQLite, []string{notSQLite, "not a SQLite database"}, false},
		{"read-only file", readOnly, []string{readOnly, "read-only", "chmod u+w"}, true},
		{"unreadable file", unreadable, []string{unreadable, "neither read nor write"}, true},
		{"directory not writable", inLocked, []string{lockedDir, "not writable", "x.db-wal"}, true},
		{"missing directory", filepath.Join(dir, "nowhere", "t.db"), []string{"nowhere", "does not exist"}, false},
	}
	for _, tc := range tests {
		for _, args := range [][]string{
			{"serve", "--addr", "127.0.0.1:0", "--weather", "offline", "--db", tc.db},
			{"client", "add", "--redirect-uri", "http://127.0.0.1/cb", "--db", tc.db},
		} {
			t.Run(tc.name+"/"+args[0], func(t *testing.T) {
				cmd := exec.CommandContext(t.Context(), bin, args...)
				cmd.Env = childEnv()
				if tc.asUser && os.Geteuid() == 0 {
					if cred == nil {
						t.Skip("root ignores file modes and cannot run the binary as nobody here")
					}
					cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
				}
				out, err := cmd.CombinedOutput()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 1 {
					t.Fatalf("%v, want exit 1:\n%s", err, out)
				}
				for _, w := range tc.want {
					if !strings.Contains(string(out), w) {
						t.Errorf("said %q, want it to mention %q", out, w)
					}
				}
				checkNoInternalPrefix(t, string(out))
			})
		}
	}
}

// TestBannerWithAdminPasswordFromEnv: with TENANTLESS_ADMIN_PASSWORD the
// banner says to sign in as admin, without the password, on the first
// start and after.
func TestBannerWithAdminPasswordFromEnv(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	for i := range 2 {
		srv := startServer(t, db, "--weather", "offline")
		banner := srv.stderr.String()
		if !strings.Contains(banner, "Sign in as     admin") || !strings.Contains(banner, "TENANTLESS_ADMIN_PASSWORD") || strings.Contains(banner, adminPassword) {
			t.Errorf("start %d: banner does not say to sign in as admin, or shows the password:\n%s", i+1, banner)
		}
		srv.stop()
	}
}

// TestMakeRunPassesArgs: make run ARGS="..." hands the flags to serve.
func TestMakeRunPassesArgs(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("no make")
	}
	out, err := exec.CommandContext(t.Context(), mk, "-C", "../..", "-n", "run", "ARGS=--addr 127.0.0.1:9090").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "serve --addr 127.0.0.1:9090") {
		t.Errorf("make -n run ARGS=...:\n%s\nwant serve --addr 127.0.0.1:9090", out)
	}
}
