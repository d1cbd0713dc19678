package main

import (
	"bufio"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/authz/trace"
	"github.com/tenantless/tenantless/resource"
	"github.com/tenantless/tenantless/storage"
)

// newTrace builds the auth trace recorder from --trace-size (nil when 0:
// tracing off).
func newTrace(c serveConfig, issuer string) *trace.Recorder {
	if c.traceSize <= 0 {
		return nil
	}
	return trace.New(trace.Config{Size: c.traceSize, Issuer: issuer})
}

// traceBanner is the ready banner's last lines: where to watch clients.
func traceBanner(c serveConfig, issuer string) string {
	if c.traceSize <= 0 {
		return ""
	}
	return fmt.Sprintf("  Why does a client get 401? Watch every step it takes:\n\n"+
		"    Auth trace     %s/trace   (sign in as an admin)\n"+
		"                   or: tenantless trace --follow --db %s\n\n", issuer, c.db)
}

// traceObserver turns the MCP endpoint's observations into notes on the
// request's trace event.
func traceObserver(rec *trace.Recorder) func(*http.Request, resource.Observation) {
	if rec == nil {
		return nil
	}
	return func(r *http.Request, o resource.Observation) {
		n := trace.Note{
			ClientID: o.Token.ClientID, UserID: o.Token.Subject, Token: trace.FingerprintSum(o.TokenSHA256),
			Expiry: o.Token.Expiry, Resource: o.Resource, Audience: o.Token.Audience, Scopes: o.Token.Scopes, Missing: o.Missing,
			Step: strings.Join(o.Calls, ", "),
		}
		for _, c := range o.Calls {
			n.ToolCall = n.ToolCall || strings.HasPrefix(c, "tools/call ")
		}
		switch o.Outcome {
		case resource.ObservedNoToken:
			n.Cause = trace.CauseNoToken
		case resource.ObservedMalformed:
			n.Cause = trace.CauseBadHeader
		case resource.ObservedInvalidToken:
			n.Cause = trace.CauseInvalidToken
		case resource.ObservedWrongAudience:
			n.Cause = trace.CauseWrongAudience
		case resource.ObservedInsufficientScope:
			n.Cause = trace.CauseInsufficientScope
		case resource.ObservedStepUpInjected:
			n.Cause = trace.CauseStepUpInjected
		}
		if n.Cause != "" {
			n.ToolCall = false
		}
		rec.Note(r, n)
	}
}

// traceIntercept lets armed faults answer MCP requests.
func traceIntercept(rec *trace.Recorder) func(*http.Request, resource.Observation) resource.Interception {
	if rec == nil {
		return nil
	}
	return func(r *http.Request, o resource.Observation) resource.Interception {
		in := rec.Intercept(o.Token.ClientID, o.Calls)
		return resource.Interception{StepUpScope: in.StepUpScope, Delay: in.Delay}
	}
}

// startTrace connects the recorder to the servers: fault actions on the
// authorization server and the store, the admin endpoint for "tenantless
// trace" and "tenantless fault" (on mux, loopback only, with a random
// token written next to the database), and the verdict clock. The
// returned function stops it and removes the token file.
func startTrace(ctx context.Context, c serveConfig, rec *trace.Recorder, st storage.Store, as *authz.Server, mux *http.ServeMux,
	ln net.Listener, log *slog.Logger) (stop func(), err error) {
	if rec == nil {
		return func() {}, nil
	}
	rec.SetActions(trace.Actions{
		ExpireTokens: as.ExpireAccessTokens,
		RevokeGrants: as.RevokeGrants,
		RotateKey: func(ctx context.Context) error {
			kid, err := authz.RotateSigningKey(ctx, st, time.Now(), storage.ActorServer)
			if err != nil {
				return err
			}
			log.Info("signing key rotated (fault injection)", "kid", kid)
			return as.RefreshKeys(ctx, c.keyRotation)
		},
		Audit: func(ctx context.Context, f trace.Fault, detail string) {
			e := storage.AuditEvent{Time: time.Now().UTC(), Type: authz.AuditFaultInjected, ClientID: f.ClientID, Outcome: "success",
				Detail: f.Kind + ": " + detail + " (by " + f.By + ")"}
			if err := st.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
				log.Error("append audit event", "type", e.Type, "err", err)
			}
		},
	})
	token := authz.GeneratePassword() + authz.GeneratePassword()
	file := adminFile(c.db)
	addr := ln.Addr().(*net.TCPAddr)
	info := adminInfo{URL: fmt.Sprintf("http://127.0.0.1:%d", addr.Port), Token: token}
	if c.tls != nil {
		info.URL = fmt.Sprintf("https://127.0.0.1:%d", addr.Port)
	}
	wrote := true
	if err := writeAdminFile(file, info); err != nil {
		// The page still works; only the CLI (which finds the server
		// through the file) does not.
		wrote = false
		log.Warn("the trace CLI is unavailable: cannot write its admin token file next to the database", "file", file, "err", err)
	} else {
		mountTraceAdmin(mux, rec, token)
	}
	ctx, cancel := context.WithCancel(ctx)
	go rec.Run(ctx)
	// serve's ctx ends before the HTTP server shuts down: end the open
	// streams first, or they would hold the shutdown up.
	go func() {
		<-ctx.Done()
		rec.Close()
	}()
	return func() {
		cancel()
		if cur, err := readAdminFile(file); wrote && err == nil && cur.Token == token {
			_ = os.Remove(file)
		}
	}, nil
}

// adminInfo is the admin token file: where a running server's admin
// endpoint is, and the token it takes.
type adminInfo struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

// adminFile is the admin token file of the database db: db + ".admin".
func adminFile(db string) string { return db + ".admin" }

func writeAdminFile(path string, info adminInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readAdminFile(path string) (adminInfo, error) {
	var info adminInfo
	b, err := os.ReadFile(path)
	if err != nil {
		return info, err
	}
	return info, json.Unmarshal(b, &info)
}

// mountTraceAdmin adds the trace's admin API, for the CLI on this machine:
//
//	GET  /admin/trace?client=ID&user=NAME&follow=1  events as JSON lines
//	POST /admin/fault                               inject a fault (JSON Fault)
//
// Both answer only loopback connections carrying the per-start token as
// Authorization: Bearer.
func mountTraceAdmin(mux *http.ServeMux, rec *trace.Recorder, token string) {
	guard := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			// A reverse proxy on this machine connects from loopback too:
			// a forwarded request is not from this machine's CLI.
			forwarded := r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != ""
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() || forwarded {
				adminError(w, http.StatusForbidden, "forbidden", "the admin endpoint answers only on this machine")
				return
			}
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tenantless-admin"`)
				adminError(w, http.StatusUnauthorized, "invalid_token", "send the token from the admin token file next to the database")
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /admin/trace", guard(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := trace.Filter{ClientID: q.Get("client"), User: q.Get("user")}
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := func(w http.ResponseWriter, e trace.Event) error { return json.NewEncoder(w).Encode(e) }
		authz.StreamTrace(r.Context(), w, rec, f, 0, q.Get("follow") == "1", enc)
	}))
	mux.HandleFunc("POST /admin/fault", guard(func(w http.ResponseWriter, r *http.Request) {
		var f trace.Fault
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&f); err != nil {
			adminError(w, http.StatusBadRequest, "invalid_request", "the body must be a JSON fault: "+err.Error())
			return
		}
		if f.By == "" {
			f.By = "cli"
		}
		e, err := rec.Inject(r.Context(), f)
		if err != nil {
			status := http.StatusBadRequest
			if !errors.Is(err, trace.ErrFault) {
				status = http.StatusInternalServerError
			}
			adminError(w, status, "fault_refused", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(e)
	}))
}

func adminError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

const traceUsage = `Usage:
  tenantless trace [--follow] [--client ID] [--user NAME] [--json]

Prints the live auth trace of the server running on --db: every step each
client took (discovery, registration, sign-in, tokens, MCP requests), with
the reason and a hint for each failure. --follow keeps printing new events.
--json prints one object per line with the fields time, attempt, route,
client_id, user, status, outcome, reason and hint (and step, token, grant).

It reads the events from the server's admin endpoint on 127.0.0.1, with the
token the server writes (mode 0600) to the file <db>.admin each time it
starts; only someone who can read that file can use it.
`

// traceCmd is "tenantless trace".
func traceCmd(ctx context.Context, args []string, e env) error {
	fs := flagSet(e, "trace", traceUsage)
	db := dbFlag(fs)
	follow := fs.Bool("follow", false, "keep printing new events until interrupted")
	client := fs.String("client", "", "only this client ID")
	user := fs.String("user", "", "only this user")
	asJSON := fs.Bool("json", false, "print one JSON object per line (snake_case keys)")
	pos, err := parse(fs, args, e)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("trace takes no arguments, got %q", pos)
	}
	q := url.Values{}
	if *client != "" {
		q.Set("client", *client)
	}
	if *user != "" {
		q.Set("user", *user)
	}
	if *follow {
		q.Set("follow", "1")
	}
	resp, err := adminRequest(ctx, *db, http.MethodGet, "/admin/trace?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if *asJSON {
			fmt.Fprintln(e.Stdout, sc.Text())
			continue
		}
		var ev trace.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("read the trace: %w", err)
		}
		fmt.Fprintln(e.Stdout, formatEvent(ev))
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read the trace: %w", err)
	}
	return nil
}

// formatEvent is one event as a terminal line (two more for reason and hint).
func formatEvent(ev trace.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s #%d %-8s %s", ev.Time.Local().Format("15:04:05"), ev.Mark(), ev.Attempt, statusText(ev.Status), ev.Route)
	if ev.Step != "" {
		fmt.Fprintf(&b, " (%s)", ev.Step)
	}
	who := ev.ClientName
	if who == "" {
		who = ev.ClientID
	}
	if who != "" {
		fmt.Fprintf(&b, "  client=%s", who)
	}
	if ev.User != "" {
		fmt.Fprintf(&b, " user=%s", ev.User)
	}
	if ev.Reason != "" {
		fmt.Fprintf(&b, "\n      %s", ev.Reason)
	}
	if ev.Hint != "" {
		fmt.Fprintf(&b, "\n      → %s", ev.Hint)
	}
	return b.String()
}

func statusText(s int) string {
	if s == 0 {
		return ""
	}
	return fmt.Sprint(s)
}

const faultUsage = `Usage:
  tenantless fault KIND --client ID [--tool NAME] [--scope SCOPE] [--delay 5s]

Injects a fault into the running server's dealings with one client, to test
how the client copes. KIND is one of:
  expire               expire the client's access tokens now (refresh tokens stay valid)
  revoke               revoke its grants (it must sign in again)
  rotate-key           rotate the token signing key now
  step-up              its next tools/call (of --tool, or any) gets 403
                       insufficient_scope for --scope
  token-503            its next token request fails with 503
  token-invalid-grant  its next token request fails with invalid_grant
  delay                its next MCP response is held back --delay

The injection is audited and shown in the trace ("tenantless trace
--follow"), followed by a verdict on what the client did next. It goes
through the admin endpoint like "tenantless trace".
`

// faultCmd is "tenantless fault".
func faultCmd(ctx context.Context, args []string, e env) error {
	fs := flagSet(e, "fault", faultUsage)
	db := dbFlag(fs)
	client := fs.String("client", "", "the client ID (required)")
	tool := fs.String("tool", "", "step-up: the tool whose next call is refused (default any)")
	scope := fs.String("scope", "", "step-up: the scope demanded")
	delay := fs.Duration("delay", 5*time.Second, "delay: how long the next MCP response is held back")
	asJSON := fs.Bool("json", false, "print the fault's trace event as JSON")
	if len(args) > 0 && isHelp(args[0]) {
		fs.SetOutput(e.Stdout)
		fs.Usage()
		return flag.ErrHelp
	}
	pos, err := parse(fs, args, e)
	if err != nil {
		return err
	}
	switch len(pos) {
	case 0:
		return usagef("fault needs a KIND: %s (run \"tenantless fault --help\")", strings.Join(trace.FaultKinds, ", "))
	case 1:
	default:
		return usagef("fault takes one KIND, got %q", pos)
	}
	kind := pos[0]
	if !slices.Contains(trace.FaultKinds, kind) {
		return usagef("unknown fault %q: use %s", kind, strings.Join(trace.FaultKinds, ", "))
	}
	if *client == "" {
		return usagef("fault needs --client ID (see \"tenantless trace\" for the client IDs)")
	}
	f := trace.Fault{Kind: kind, ClientID: *client, Tool: *tool, Scope: *scope, By: "cli"}
	if kind == trace.FaultDelay {
		f.Delay = *delay
	}
	body, err := json.Marshal(f)
	if err != nil {
		return err
	}
	resp, err := adminRequest(ctx, *db, http.MethodPost, "/admin/fault", strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if *asJSON {
		fmt.Fprintln(e.Stdout, strings.TrimSpace(string(b)))
		return nil
	}
	var ev trace.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	fmt.Fprintln(e.Stdout, formatEvent(ev))
	return nil
}

// adminRequest sends a request to the admin endpoint of the server
// running on db and returns a 200 answer (other answers become errors).
func adminRequest(ctx context.Context, db, method, path string, body io.Reader) (*http.Response, error) {
	file := adminFile(db)
	info, err := readAdminFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no running server for %s: %s is missing (start one with \"tenantless serve --db %s\"; the trace is off with --trace-size 0)", db, file, db)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, info.URL+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+info.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	if strings.HasPrefix(info.URL, "https:") {
		client.Transport = insecureLoopbackTransport()
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach the server at %s: %w (is it still running?)", info.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
		return nil, fmt.Errorf("the server refused: %s: %s", e.Error, e.Description)
	}
	return resp, nil
}

// insecureLoopbackTransport talks https to the server's own loopback
// address, whose certificate names the public host rather than 127.0.0.1;
// the URL comes from the admin token file the server itself wrote.
func insecureLoopbackTransport() *http.Transport {
	return &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // loopback only, see above
}
