// Command tenantless-load drives a running tenantless server over loopback
// and reports throughput, latency percentiles and the server's CPU time and
// memory per workload. It is a development tool: it refuses any target that
// is not on this machine's loopback interface, and every connection it
// opens is checked to go to a loopback address.
//
// Usage:
//
//	tenantless-load [flags] WORKLOAD...
//
// Workloads (each one operation, repeated by every worker):
//
//	flow        a signed-in user's authorization: GET /authorize with the
//	            session cookie and remembered consent answers with a code at
//	            once, POST /token redeems it with the PKCE verifier
//	flow-login  the same with a fresh browser every time: login page, sign-in
//	            (the argon2id password check), authorize, token
//	refresh     a refresh_token grant; each worker rotates its own token chain
//	register    an RFC 7591 registration of a public client
//	introspect  an RFC 7662 introspection of an access token by a confidential
//	            client with HTTP Basic (registered with DCR at start, or
//	            given with -client-id and -client-secret)
//	tools-call  an authorized MCP tools/call of get_forecast on an open
//	            session (start the server with --weather offline)
//	metadata    GET /.well-known/oauth-authorization-server (a floor: what
//	            one loopback HTTP round trip costs)
//	startup     exec -bin serve on -db until the first 200 from the metadata
//	            URL, -n times; reports start-to-ready and idle RSS
//	all         every workload above but startup
//
// Each workload runs with -c concurrent workers for -d (after -warmup) or
// until -n operations, -runs times; with several -runs the table shows the
// median of each figure. With -pid, the server's CPU time (utime+stime from
// /proc/PID/stat) and RSS (VmRSS from /proc/PID/status, sampled every
// 100 ms) are read around each run, giving CPU milliseconds per operation:
// on a shared, noisy machine it is the steadier figure.
//
// The server's registration must be open (the default on loopback), and
// its admin password is read from -password or TENANTLESS_ADMIN_PASSWORD.
// Example:
//
//	TENANTLESS_ADMIN_PASSWORD=load-test-password bin/tenantless serve \
//	    --db /tmp/perf.db --weather offline --addr 127.0.0.1:18181 &
//	TENANTLESS_ADMIN_PASSWORD=load-test-password go run ./cmd/tenantless-load \
//	    -url http://127.0.0.1:18181 -pid $! -c 1,16 -d 15s -runs 3 all
//	go run ./cmd/tenantless-load -bin bin/tenantless -db /tmp/perf.db -n 20 startup
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"
)

const usage = `Usage:
  tenantless-load [flags] WORKLOAD...

Workloads: flow, flow-login, refresh, register, introspect, tools-call,
metadata, startup, all (every one but startup). See "go doc
./cmd/tenantless-load" for what each operation is.
`

// config is what the flags decide.
type config struct {
	url          string
	user         string
	password     string
	concurrency  []int
	duration     time.Duration
	count        int64
	warmup       time.Duration
	runs         int
	pid          int
	json         bool
	clientID     string
	clientSecret string
	timeout      time.Duration
	bin          string
	db           string
	serverArgs   string
	workloads    []string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// run executes one command line and returns the exit code: 0 on success,
// 1 when a workload failed, 2 on a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cfg, err := parseFlags(args, stderr, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "tenantless-load: %v\n", err)
		return 2
	}
	results, err := runAll(ctx, cfg, stderr)
	if len(results) > 0 {
		if cfg.json {
			if werr := writeJSON(stdout, results); werr != nil && err == nil {
				err = werr
			}
		} else {
			writeTable(stdout, results)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "tenantless-load: %v\n", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer, getenv func(string) string) (config, error) {
	var c config
	fs := flag.NewFlagSet("tenantless-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "base URL of the server; must be a loopback address")
	fs.StringVar(&c.user, "user", "admin", "username to sign in as")
	fs.StringVar(&c.password, "password", "", "the user's password (default $TENANTLESS_ADMIN_PASSWORD)")
	conc := fs.String("c", "1", "concurrent workers; a comma-separated list runs each workload at each")
	fs.DurationVar(&c.duration, "d", 15*time.Second, "how long each run measures; 0 with -n runs until -n operations")
	fs.Int64Var(&c.count, "n", 0, "stop each run after this many operations (0: no limit); for startup, how many starts (default 10)")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "operations run before each measurement, not counted")
	fs.IntVar(&c.runs, "runs", 1, "runs of each workload and concurrency; the table shows their medians")
	fs.IntVar(&c.pid, "pid", 0, "the server's process ID, to read its CPU time and RSS from /proc")
	fs.BoolVar(&c.json, "json", false, "print JSON instead of a table")
	fs.StringVar(&c.clientID, "client-id", "", "confidential client for introspect (default: register one with DCR)")
	fs.StringVar(&c.clientSecret, "client-secret", "", "its secret (default $TENANTLESS_LOAD_CLIENT_SECRET)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "timeout of one HTTP request")
	fs.StringVar(&c.bin, "bin", "bin/tenantless", "startup: the tenantless binary to exec")
	fs.StringVar(&c.db, "db", "", "startup: the database file to serve (it should exist already)")
	fs.StringVar(&c.serverArgs, "server-args", "--weather offline", "startup: more serve flags, space-separated")
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return c, err
			}
			return c, fmt.Errorf("%v (run with -h for help)", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		c.workloads = append(c.workloads, args[0])
		args = args[1:]
	}
	if c.password == "" {
		c.password = getenv("TENANTLESS_ADMIN_PASSWORD")
	}
	if c.clientSecret == "" {
		c.clientSecret = getenv("TENANTLESS_LOAD_CLIENT_SECRET")
	}
	for _, s := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 1024 {
			return c, fmt.Errorf("-c %q: want numbers from 1 to 1024, comma-separated", *conc)
		}
		c.concurrency = append(c.concurrency, n)
	}
	switch {
	case len(c.workloads) == 0:
		fs.Usage()
		return c, errors.New("name at least one workload")
	case c.runs < 1:
		return c, errors.New("-runs must be at least 1")
	case c.duration < 0 || c.count < 0 || c.warmup < 0:
		return c, errors.New("-d, -n and -warmup must not be negative")
	case c.duration == 0 && c.count == 0:
		return c, errors.New("give -d or -n (or both) to bound each run")
	case (c.clientID == "") != (c.clientSecret == ""):
		return c, errors.New("-client-id and -client-secret go together")
	}
	var expanded []string
	for _, w := range c.workloads {
		if w == "all" {
			expanded = append(expanded, allWorkloads...)
			continue
		}
		if _, ok := workloads[w]; !ok && w != "startup" {
			return c, fmt.Errorf("unknown workload %q; known: %s, startup, all", w, strings.Join(allWorkloads, ", "))
		}
		expanded = append(expanded, w)
	}
	c.workloads = expanded
	return c, nil
}

// runAll runs every workload at every concurrency, -runs times each.
func runAll(ctx context.Context, cfg config, progress io.Writer) ([]result, error) {
	var out []result
	var target *target
	for _, name := range cfg.workloads {
		if name == "startup" {
			r, err := runStartup(ctx, cfg, progress)
			if err != nil {
				return out, fmt.Errorf("startup: %w", err)
			}
			out = append(out, r)
			continue
		}
		if target == nil {
			t, err := newTarget(ctx, cfg)
			if err != nil {
				return out, err
			}
			target = t
		}
		for _, c := range cfg.concurrency {
			r := result{Workload: name, Concurrency: c}
			for i := range cfg.runs {
				if ctx.Err() != nil {
					return out, ctx.Err()
				}
				fmt.Fprintf(progress, "%s c=%d run %d/%d ...\n", name, c, i+1, cfg.runs)
				rr, err := target.run(ctx, workloads[name], c)
				if err != nil {
					return out, fmt.Errorf("%s c=%d: %w", name, c, err)
				}
				r.Runs = append(r.Runs, rr)
			}
			r.summarize()
			out = append(out, r)
		}
	}
	return out, nil
}
