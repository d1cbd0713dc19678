package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// target is the server under load, with what every workload shares: a
// transport that only dials loopback, a public client registered at
// start, and (once a workload needs it) the user's consent for it.
type target struct {
	cfg       config
	base      string // scheme://host:port, no trailing slash
	resource  string // the MCP resource URL tokens are asked for
	transport http.RoundTripper

	mu           sync.Mutex
	publicID     string
	consented    bool
	session      []*http.Cookie // the signed-in browser's cookies
	confID       string
	confSecret   string
	introspected string // an access token for introspect
}

// redirectURI is the loopback redirect URI of the public client.
const redirectURI = "http://127.0.0.1/callback"

func newTarget(ctx context.Context, cfg config) (*target, error) {
	base, err := loopbackBase(cfg.url)
	if err != nil {
		return nil, err
	}
	t := &target{cfg: cfg, base: base, resource: base + "/mcp"}
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: loopbackOnly}
	maxConc := 1
	for _, c := range cfg.concurrency {
		maxConc = max(maxConc, c)
	}
	if u, _ := url.Parse(base); u.Scheme == "http" {
		t.transport = newDirectTransport(u.Host, cfg.timeout, dialer.DialContext, 4*maxConc+16)
	} else {
		t.transport = &http.Transport{
			DialContext:           dialer.DialContext,
			MaxIdleConns:          4*maxConc + 16,
			MaxIdleConnsPerHost:   4*maxConc + 16,
			IdleConnTimeout:       90 * time.Second,
			DisableCompression:    true,
			ResponseHeaderTimeout: cfg.timeout,
		}
	}
	// One request first, so that a wrong URL fails with a clear message
	// rather than as every worker's error.
	c := t.client(nil)
	res, err := c.Get(t.base + "/.well-known/oauth-authorization-server")
	if err != nil {
		return nil, fmt.Errorf("reach %s: %w", t.base, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s/.well-known/oauth-authorization-server: status %d; is it tenantless?", t.base, res.StatusCode)
	}
	return t, nil
}

// loopbackBase checks that raw is an http(s) URL on a loopback host
// (localhost, 127.0.0.0/8 or ::1) and returns it without a trailing slash.
func loopbackBase(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("-url %q: want http://HOST:PORT", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("-url %q: give the server's base URL, without a path or query", raw)
	}
	host := u.Hostname()
	if !strings.EqualFold(host, "localhost") {
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return "", fmt.Errorf("-url %q: refusing a target that is not on this machine's loopback interface (localhost, 127.0.0.1, [::1])", raw)
		}
	}
	return u.Scheme + "://" + u.Host, nil
}

// errNotLoopback is returned when a connection would leave the machine.
var errNotLoopback = errors.New("refusing to connect to a non-loopback address")

// loopbackOnly is a net.Dialer Control function that refuses every
// address that is not loopback, whatever a name resolved to.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w %s", errNotLoopback, address)
	}
	return nil
}

// client returns an HTTP client on the shared transport that never
// follows redirects (the workloads read Location themselves). The
// transport enforces -timeout.
func (t *target) client(jar http.CookieJar) *http.Client {
	return &http.Client{
		Transport: t.transport,
		Jar:       jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// runResult is one run of one workload at one concurrency.
type runResult struct {
	Ops      int64            `json:"ops"`
	Errors   int64            `json:"errors"`
	ErrKinds map[string]int64 `json:"error_kinds,omitempty"`
	Elapsed  time.Duration    `json:"elapsed_ns"`
	OpsPerS  float64          `json:"ops_per_s"`
	P50      time.Duration    `json:"p50_ns"`
	P95      time.Duration    `json:"p95_ns"`
	P99      time.Duration    `json:"p99_ns"`
	Max      time.Duration    `json:"max_ns"`
	// Server figures, with -pid: CPU milliseconds per successful
	// operation, RSS before, after and at its highest sample.
	ServerCPUmsPerOp float64 `json:"server_cpu_ms_per_op,omitempty"`
	RSSBefore        int64   `json:"server_rss_before_bytes,omitempty"`
	RSSAfter         int64   `json:"server_rss_after_bytes,omitempty"`
	RSSPeak          int64   `json:"server_rss_peak_bytes,omitempty"`
	// ClientCPUmsPerOp is this program's own CPU per operation: on a
	// machine with few cores the load generator competes with the server.
	ClientCPUmsPerOp float64 `json:"client_cpu_ms_per_op"`
}

// run runs w with c workers: setup per worker, warm-up, then the
// measured window.
func (t *target) run(ctx context.Context, w workload, c int) (runResult, error) {
	if w.prepare != nil {
		if err := w.prepare(ctx, t); err != nil {
			return runResult{}, fmt.Errorf("prepare: %w", err)
		}
	}
	ops := make([]func(context.Context) error, c)
	{
		var wg sync.WaitGroup
		errs := make([]error, c)
		for i := range c {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ops[i], errs[i] = w.worker(ctx, t)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return runResult{}, fmt.Errorf("worker setup: %w", err)
		}
	}

	var (
		issued   atomic.Int64 // measured operations started (for -n)
		mu       sync.Mutex
		lat      []time.Duration
		kinds    = map[string]int64{}
		nErrors  int64
		lastDone time.Time
	)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	measureFrom := time.Now().Add(t.cfg.warmup)
	var measureUntil time.Time
	if t.cfg.duration > 0 {
		measureUntil = measureFrom.Add(t.cfg.duration)
	}

	// The server's counters are read when the window opens and after the
	// last worker stops; RSS is sampled in between.
	var before, after procSample
	var rssPeak atomic.Int64
	selfBefore, selfAfter := readSelfCPU(), time.Duration(0)
	opened := make(chan struct{})
	sampleDone := make(chan struct{})
	go func() {
		defer close(sampleDone)
		timer := time.NewTimer(time.Until(measureFrom))
		select {
		case <-timer.C:
		case <-runCtx.Done():
			timer.Stop()
			close(opened)
			return
		}
		if t.cfg.pid > 0 {
			before, _ = readProc(t.cfg.pid)
			rssPeak.Store(before.RSS)
		}
		selfBefore = readSelfCPU()
		close(opened)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
				if t.cfg.pid > 0 {
					if s, err := readProc(t.cfg.pid); err == nil && s.RSS > rssPeak.Load() {
						rssPeak.Store(s.RSS)
					}
				}
			}
		}
	}()

	var wg sync.WaitGroup
	for i := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1024)
			localKinds := map[string]int64{}
			var localErrors int64
			var done time.Time
			for runCtx.Err() == nil {
				start := time.Now()
				measured := !start.Before(measureFrom)
				if measured {
					if !measureUntil.IsZero() && !start.Before(measureUntil) {
						break
					}
					if t.cfg.count > 0 && issued.Add(1) > t.cfg.count {
						break
					}
				}
				err := ops[i](runCtx)
				end := time.Now()
				if !measured {
					continue
				}
				done = end
				if err != nil {
					if runCtx.Err() != nil {
						break // interrupted: not the server's error
					}
					localErrors++
					localKinds[errorKind(err)]++
					continue
				}
				local = append(local, end.Sub(start))
			}
			mu.Lock()
			lat = append(lat, local...)
			nErrors += localErrors
			for k, v := range localKinds {
				kinds[k] += v
			}
			if done.After(lastDone) {
				lastDone = done
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	<-opened
	if t.cfg.pid > 0 {
		var err error
		if after, err = readProc(t.cfg.pid); err != nil {
			return runResult{}, fmt.Errorf("read server process: %w", err)
		}
	}
	selfAfter = readSelfCPU()
	cancel()
	<-sampleDone
	if err := ctx.Err(); err != nil {
		return runResult{}, err
	}

	r := runResult{Ops: int64(len(lat)), Errors: nErrors, ErrKinds: kinds}
	if len(kinds) == 0 {
		r.ErrKinds = nil
	}
	if lastDone.After(measureFrom) {
		r.Elapsed = lastDone.Sub(measureFrom)
		r.OpsPerS = float64(r.Ops) / r.Elapsed.Seconds()
	}
	r.P50, r.P95, r.P99, r.Max = percentiles(lat)
	if r.Ops > 0 {
		r.ClientCPUmsPerOp = ms(selfAfter-selfBefore) / float64(r.Ops)
		if t.cfg.pid > 0 {
			r.ServerCPUmsPerOp = ms(after.CPU-before.CPU) / float64(r.Ops)
		}
	}
	if t.cfg.pid > 0 {
		r.RSSBefore, r.RSSAfter, r.RSSPeak = before.RSS, after.RSS, max(rssPeak.Load(), after.RSS)
	}
	if r.Ops == 0 && r.Errors > 0 {
		return r, fmt.Errorf("every operation failed; first kinds: %v", kinds)
	}
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
