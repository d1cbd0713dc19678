//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantless/tenantless/e2e/browser"
	"github.com/tenantless/tenantless/storage/postgres/pgtest"
)

const (
	// balancedGrants is how many grants the storm rotates, one worker each.
	balancedGrants = 24
	// balancedKillAt is after how many rotations one instance is killed,
	// and balancedAfterKill how many more the storm waits for.
	balancedKillAt, balancedAfterKill = 150, 150
)

// nginxBinary finds Debian's nginx, or skips the test.
func nginxBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	t.Skip("nginx not found; install it with: apt-get install nginx-light")
	return ""
}

// startNginx runs nginx on 127.0.0.1:port, balancing round-robin over the
// upstream ports, with the Host header passed through as a production
// configuration would (README, "Running several instances").
func startNginx(t *testing.T, nginx, port string, upstreams []string) {
	t.Helper()
	dir := t.TempDir()
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "    server 127.0.0.1:%s max_fails=1 fail_timeout=30s;\n", u)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // the workers must reach the temporary directory
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  upstream tenantless {
%[3]s    keepalive 64;
  }
  server {
    listen 127.0.0.1:%[4]s;
    location / {
      proxy_pass http://tenantless;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_buffering off;
    }
  }
}
`, user, dir, servers.String(), port)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", path, "-g", "daemon off;")
	// A file, not a pipe: nginx's worker holds its output open, and Wait
	// would wait for a pipe's last writer. Its own process group, so that
	// the cleanup kills the worker with the master.
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	logs := func() string {
		a, _ := os.ReadFile(filepath.Join(dir, "stdout.log"))
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return string(a) + string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get("http://127.0.0.1:" + port + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("nginx exited: %s", logs())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not answer within 20 s: %s", logs())
		}
	}
}

// balancedGrant is one grant as its client sees it (its worker writes it).
type balancedGrant struct {
	refresh  string // newest refresh token whose rotation the client read
	inFlight bool   // a request had no answer (502 or cut) when it stopped
}

// TestPostgresBalancedCrash runs three instances (child processes) on one
// database behind nginx, round-robin. Sign-ins and code exchanges hop
// between instances through the balancer; then a refresh storm rotates
// balancedGrants grants as fast as the instances answer, and one instance
// is killed with SIGKILL in the middle of it. The other two carry on; no
// grant is broken: every grant whose last request was answered refreshes
// with its last token, one whose request was cut off by the kill is
// either rotated or not (never half-written), and the database holds at
// most one live refresh token per grant, each with its access token.
func TestPostgresBalancedCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs nginx; skipped with -short")
	}
	db := pgtest.URL(t)
	nginx := nginxBinary(t)
	bin := buildBinary(t)
	lbPort := freePort(t)
	issuer := "http://localhost:" + lbPort
	var (
		ports []string
		srvs  []*binaryServer
	)
	for range 3 {
		p := freePort(t)
		ports = append(ports, p)
		srvs = append(srvs, startBinary(t, bin, db, p, "--issuer", issuer, "--rate-limits", "off"))
	}
	startNginx(t, nginx, lbPort, ports)
	var c clientJSON
	out := runBinary(t, bin, "client", "add", "--json", "--db", db, "--name", "balanced", "--redirect-uri", "http://127.0.0.1/callback")
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("client add --json printed %q: %v", out, err)
	}

	b := browser.New(issuer)
	grants := make([]*balancedGrant, balancedGrants)
	for i := range grants {
		grants[i] = &balancedGrant{refresh: authorizeWith(t, b, issuer, c.ClientID).RefreshToken}
	}

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * balancedGrants}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	var (
		rotations, afterKill atomic.Int64
		killed, stop         atomic.Bool
		killNow              = make(chan struct{})
		enough               = make(chan struct{})
		once1, once2         sync.Once
		wg                   sync.WaitGroup
	)
	for i, g := range grants {
		wg.Go(func() {
			for !stop.Load() {
				r := refreshToken(hc, issuer, c.ClientID, g.refresh)
				switch {
				case r.err != nil || r.status == http.StatusBadGateway || r.status == http.StatusGatewayTimeout:
					// Cut off: the kill (or nothing else may) explains it.
					if !killed.Load() {
						t.Errorf("grant %d: refresh failed before the kill: %d %v", i, r.status, r.err)
					}
					g.inFlight = true
					return
				case r.status != 200 || r.tok.RefreshToken == "":
					t.Errorf("grant %d: refresh: %d %+v, want 200", i, r.status, r.tok)
					return
				}
				g.refresh = r.tok.RefreshToken
				if rotations.Add(1) == balancedKillAt {
					once1.Do(func() { close(killNow) })
				}
				if killed.Load() && afterKill.Add(1) == balancedAfterKill {
					once2.Do(func() { close(enough) })
				}
			}
		})
	}
	timeout := time.After(60 * time.Second)
	select {
	case <-killNow:
	case <-timeout:
		t.Fatalf("only %d rotations before the kill point", rotations.Load())
	}
	killed.Store(true)
	srvs[1].kill(t)
	select {
	case <-enough:
	case <-timeout:
		t.Errorf("only %d rotations after the kill: the other instances did not carry on", afterKill.Load())
	}
	stop.Store(true)
	wg.Wait()

	inFlight, worked := 0, 0
	for i, g := range grants {
		r := refreshToken(hc, issuer, c.ClientID, g.refresh)
		switch {
		case r.err != nil:
			t.Errorf("grant %d after the storm: %v", i, r.err)
		case !g.inFlight && r.status != 200:
			t.Errorf("grant %d (nothing in flight at the kill): its last token got %d %+v, want 200", i, r.status, r.tok)
		case g.inFlight && r.status != 200 && r.tok.Error != "invalid_grant":
			t.Errorf("grant %d (cut off by the kill): its last token got %d %+v, want 200 (rotation not committed) or invalid_grant (committed)", i, r.status, r.tok)
		}
		if g.inFlight {
			inFlight++
		}
		if r.status == 200 {
			worked++
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var forked, orphaned int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT request_id FROM tokens WHERE kind = 'refresh' AND active
		GROUP BY request_id HAVING count(*) > 1) AS f`).Scan(&forked); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM tokens r WHERE r.kind = 'refresh' AND r.active AND r.access_signature <> ''
		AND NOT EXISTS (SELECT 1 FROM tokens a WHERE a.kind = 'access' AND a.signature = r.access_signature)`).Scan(&orphaned); err != nil {
		t.Fatal(err)
	}
	if forked != 0 || orphaned != 0 {
		t.Errorf("database after the storm: %d grants with several live refresh tokens, %d live refresh tokens without their access token; want 0 and 0",
			forked, orphaned)
	}
	t.Logf("%d grants, 3 instances behind nginx, one killed after %d rotations; %d rotations in all, %d after the kill; "+
		"%d requests cut off by the kill; afterwards %d grants refreshed, the others were revoked as reused",
		len(grants), balancedKillAt, rotations.Load(), afterKill.Load(), inFlight, worked)
}
