package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// startupResult is the startup workload's figures.
type startupResult struct {
	Binary   string          `json:"binary"`
	Database string          `json:"database"`
	Ready    []time.Duration `json:"ready_ns"`
	ReadyP50 time.Duration   `json:"ready_p50_ns"`
	ReadyMin time.Duration   `json:"ready_min_ns"`
	ReadyMax time.Duration   `json:"ready_max_ns"`
	// IdleRSS is each server's VmRSS Settle after it was ready, with no
	// requests but the one readiness probe.
	IdleRSS    []int64       `json:"idle_rss_bytes"`
	IdleRSSP50 int64         `json:"idle_rss_p50_bytes"`
	Settle     time.Duration `json:"settle_ns"`
}

// settle is how long a started server idles before its RSS is read.
const settle = 2 * time.Second

// runStartup execs "BIN serve --db DB --addr 127.0.0.1:PORT" -n times and
// measures the time from exec to the first 200 from the metadata URL.
func runStartup(ctx context.Context, cfg config, progress io.Writer) (result, error) {
	if cfg.db == "" {
		return result{}, errors.New("-db is required: the database the server opens (create it with one run of the server first)")
	}
	if _, err := os.Stat(cfg.db); err != nil {
		return result{}, fmt.Errorf("-db: %w (startup measures an existing database)", err)
	}
	n := int(cfg.count)
	if n == 0 {
		n = 10
	}
	s := &startupResult{Binary: cfg.bin, Database: cfg.db, Settle: settle}
	for i := range n {
		fmt.Fprintf(progress, "startup %d/%d ...\n", i+1, n)
		ready, rss, err := startOnce(ctx, cfg)
		if err != nil {
			return result{}, err
		}
		s.Ready = append(s.Ready, ready)
		s.IdleRSS = append(s.IdleRSS, rss)
	}
	s.ReadyP50 = median(s.Ready)
	s.ReadyMin, s.ReadyMax = minMax(s.Ready)
	s.IdleRSSP50 = median(s.IdleRSS)
	return result{Workload: "startup", Startup: s}, nil
}

func minMax(xs []time.Duration) (time.Duration, time.Duration) {
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

// freePort returns a loopback port nobody listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startOnce starts one server, waits until it answers, reads its idle RSS
// and stops it with an interrupt.
func startOnce(ctx context.Context, cfg config) (time.Duration, int64, error) {
	port, err := freePort()
	if err != nil {
		return 0, 0, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := append([]string{"serve", "--db", cfg.db, "--addr", addr}, strings.Fields(cfg.serverArgs)...)
	cmd := exec.Command(cfg.bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	probe := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{Control: loopbackOnly}).DialContext},
	}
	url := "http://" + addr + "/.well-known/oauth-authorization-server"

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("exec %s: %w", cfg.bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	var ready time.Duration
	for {
		res, err := probe.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				ready = time.Since(start)
				break
			}
		}
		select {
		case err := <-exited:
			return 0, 0, fmt.Errorf("the server exited before it was ready (%v): %s", err, lastLines(stderr.String(), 5))
		case <-ctx.Done():
			stop()
			return 0, 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
		if time.Since(start) > 30*time.Second {
			stop()
			return 0, 0, fmt.Errorf("the server was not ready after 30 s: %s", lastLines(stderr.String(), 5))
		}
	}

	select {
	case <-time.After(settle):
	case <-ctx.Done():
		stop()
		return 0, 0, ctx.Err()
	}
	p, err := readProc(cmd.Process.Pid)
	stop()
	if err != nil {
		return 0, 0, fmt.Errorf("read the server's RSS: %w", err)
	}
	return ready, p.RSS, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
