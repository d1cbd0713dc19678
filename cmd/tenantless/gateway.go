package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/authz/trace"
	"github.com/tenantless/tenantless/resource/gateway"
	"github.com/tenantless/tenantless/storage"
)

// gatewayConfig is what the gateway flags decide: an upstream MCP server
// to protect instead of the built-in weather server.
type gatewayConfig struct {
	upstream    string
	command     []string // after "--"
	scopes      string
	toolScopes  repeated
	headers     repeated
	env         repeated
	idle        time.Duration
	maxSessions int
}

// on reports whether serve runs as a gateway.
func (g gatewayConfig) on() bool { return g.upstream != "" || len(g.command) > 0 }

// gatewayFlags adds the gateway flags to fs.
func gatewayFlags(fs *flag.FlagSet, g *gatewayConfig) {
	fs.StringVar(&g.upstream, "upstream", "", "protect the MCP server at this Streamable HTTP `URL` (e.g. http://127.0.0.1:3001/mcp) instead of serving the weather tools; or run a stdio server given after -- (env TENANTLESS_UPSTREAM)")
	fs.StringVar(&g.scopes, "scopes", "", "with --upstream or a command: the scopes clients may ask for, space-separated; the first is needed for every request (default \"mcp\") (env TENANTLESS_SCOPES)")
	fs.Var(&g.toolScopes, "tool-scope", "with --upstream or a command: `GLOB=SCOPE` makes tools/call of tools matching GLOB (e.g. delete_*) need SCOPE too; repeatable")
	fs.Var(&g.headers, "upstream-header", "`NAME=VALUE` header added to every request to --upstream, e.g. an API key; repeatable")
	fs.Var(&g.env, "upstream-env", "`NAME` of an environment variable a stdio upstream inherits besides PATH and HOME; repeatable")
	fs.DurationVar(&g.idle, "upstream-idle", 10*time.Minute, "end a stdio upstream's process after this long without requests (env TENANTLESS_UPSTREAM_IDLE)")
	fs.IntVar(&g.maxSessions, "upstream-max-sessions", 16, "stdio upstream processes (one per MCP session) at most at once; beyond, 503 with Retry-After (env TENANTLESS_UPSTREAM_MAX_SESSIONS)")
}

// splitCommand splits serve's arguments at the first "--": flags before,
// a stdio MCP server's command line after.
func splitCommand(args []string) (flags, command []string) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

// checkGateway checks the gateway flags.
func checkGateway(g gatewayConfig) error {
	if g.command != nil && len(g.command) == 0 {
		return usagef("nothing after --: give the stdio MCP server's command, for example: tenantless serve -- npx -y @modelcontextprotocol/server-everything")
	}
	if g.upstream != "" && len(g.command) > 0 {
		return usagef("give either --upstream URL or a command after --, not both")
	}
	if !g.on() {
		if g.scopes != "" || len(g.toolScopes) > 0 || len(g.headers) > 0 {
			return usagef("--scopes, --tool-scope and --upstream-header need --upstream URL or a command after --")
		}
		return nil
	}
	if g.upstream != "" {
		u, err := url.Parse(g.upstream)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--upstream %q is not an http(s) URL; write it as http://127.0.0.1:3001/mcp", g.upstream)
		}
	}
	if _, err := toolScopes(g); err != nil {
		return err
	}
	if _, err := upstreamHeaders(g); err != nil {
		return err
	}
	if g.idle <= 0 || g.maxSessions <= 0 {
		return usagef("--upstream-idle and --upstream-max-sessions must be positive")
	}
	return nil
}

// gatewayScopeNames is --scopes as a list ("mcp" by default).
func gatewayScopeNames(g gatewayConfig) []string {
	if s := strings.Fields(g.scopes); len(s) > 0 {
		return s
	}
	return []string{gateway.DefaultScope}
}

func toolScopes(g gatewayConfig) ([]gateway.ToolScope, error) {
	var out []gateway.ToolScope
	for _, v := range g.toolScopes {
		glob, scope, ok := strings.Cut(v, "=")
		if _, err := path.Match(glob, ""); !ok || glob == "" || scope == "" || strings.ContainsAny(scope, " \"\\") || err != nil {
			return nil, usagef("--tool-scope %q: write GLOB=SCOPE, for example 'delete_*=admin'", v)
		}
		out = append(out, gateway.ToolScope{Glob: glob, Scope: scope})
	}
	return out, nil
}

func upstreamHeaders(g gatewayConfig) (http.Header, error) {
	h := http.Header{}
	for _, v := range g.headers {
		name, val, ok := strings.Cut(v, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " :\t") || strings.ContainsAny(val, "\r\n") {
			return nil, usagef("--upstream-header %q: write NAME=VALUE, for example 'X-Api-Key=secret'", v)
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(name), val)
	}
	return h, nil
}

// serverScopes are the scopes the authorization server offers, with the
// consent page's descriptions: the weather tools', or the gateway's.
func serverScopes(c serveConfig) []authz.Scope {
	g := c.gateway
	if !g.on() {
		return weatherScopes
	}
	ts, _ := toolScopes(g)
	names := gatewayScopeNames(g)
	for _, t := range ts {
		if !contains(names, t.Scope) {
			names = append(names, t.Scope)
		}
	}
	out := make([]authz.Scope, 0, len(names))
	for i, n := range names {
		var globs []string
		for _, t := range ts {
			if t.Scope == n {
				globs = append(globs, t.Glob)
			}
		}
		desc := "Use the MCP server " + upstreamName(g)
		switch {
		case len(globs) > 0:
			desc = "Call its tools named " + strings.Join(globs, ", ")
		case i > 0:
			desc = "Scope " + n + " of the MCP server " + upstreamName(g)
		}
		out = append(out, authz.Scope{Name: n, Description: desc})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// upstreamName names the upstream for people.
func upstreamName(g gatewayConfig) string {
	if g.upstream != "" {
		return g.upstream
	}
	return strings.Join(g.command, " ")
}

// resourceName is the resource name of the consent page and metadata.
func resourceName(c serveConfig) string {
	if c.gateway.on() {
		return "MCP server " + upstreamName(c.gateway)
	}
	return "Weather"
}

// newGateway builds the gateway in front of the upstream MCP server: it
// checks tokens with as, signs identities with as's key, names users
// from st, and audits and counts every tool call. When ctx ends (shutdown
// begins) its GET streams and stdio processes end, so that the graceful
// shutdown does not wait for them.
func newGateway(ctx context.Context, c serveConfig, as *authz.Server, st storage.Store, issuer string, log *slog.Logger, met *metrics, tr *trace.Recorder) (*gatewayServer, error) {
	ts, err := toolScopes(c.gateway)
	if err != nil {
		return nil, err
	}
	headers, err := upstreamHeaders(c.gateway)
	if err != nil {
		return nil, err
	}
	count := onToolCall(met)
	audit := newAuditQueue(st, log)
	g, err := gateway.New(gateway.Config{
		Upstream:            c.gateway.upstream,
		Command:             c.gateway.command,
		Verify:              verifier(as),
		PublicURL:           issuer,
		AuthorizationServer: issuer,
		Name:                resourceName(c),
		Scopes:              gatewayScopeNames(c.gateway),
		ToolScopes:          ts,
		Headers:             headers,
		Env:                 append([]string{"PATH", "HOME"}, c.gateway.env...),
		Getenv:              c.getenv,
		IdleTimeout:         c.gateway.idle,
		MaxSessions:         c.gateway.maxSessions,
		Username: func(ctx context.Context, sub string) (string, error) {
			u, err := st.GetUser(ctx, sub)
			return u.Username, err
		},
		Sign: func(ctx context.Context, claims map[string]any) (string, error) {
			return as.SignJWT(ctx, "JWT", claims)
		},
		Observe:   traceObserver(tr),
		Intercept: traceIntercept(tr),
		OnToolCall: func(tc gateway.ToolCall) {
			if count != nil {
				count(tc.Tool, tc.Outcome)
			}
			outcome := "success"
			if tc.Outcome != "ok" {
				outcome = "failure"
			}
			audit.add(storage.AuditEvent{
				Time: time.Now(), Type: authz.AuditToolCalled, UserID: tc.Subject, ClientID: tc.ClientID,
				Address: tc.Address, Outcome: outcome, Actor: storage.ActorServer,
				Detail: fmt.Sprintf("%s: %s in %.1f ms", tc.Tool, tc.Outcome, float64(tc.Latency.Microseconds())/1000),
			})
		},
		Logger: log.With("upstream", upstreamName(c.gateway)),
	})
	if err != nil {
		audit.close()
		return nil, err
	}
	context.AfterFunc(ctx, g.Close)
	return &gatewayServer{Gateway: g, audit: audit}, nil
}

// gatewayServer is the gateway with its audit writer.
type gatewayServer struct {
	*gateway.Gateway
	audit *auditQueue
}

// Close ends the stdio processes, then writes the audit events still queued.
func (g *gatewayServer) Close() {
	g.Gateway.Close()
	g.audit.close()
}

// auditQueue writes tool-call events off the request path, many per
// transaction under load (one commit per batch instead of per call). A
// full queue makes callers wait rather than lose events.
type auditQueue struct {
	st   storage.Store
	log  *slog.Logger
	ch   chan storage.AuditEvent
	done chan struct{}

	mu     sync.RWMutex
	closed bool
}

func newAuditQueue(st storage.Store, log *slog.Logger) *auditQueue {
	q := &auditQueue{st: st, log: log, ch: make(chan storage.AuditEvent, 4096), done: make(chan struct{})}
	go q.run()
	return q
}

// add queues e; after close (a call that outlived shutdown) it is logged
// instead.
func (q *auditQueue) add(e storage.AuditEvent) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		q.log.Warn("tool call after shutdown not audited", "detail", e.Detail, "user_id", e.UserID)
		return
	}
	q.ch <- e
}

// close writes what is queued and stops.
func (q *auditQueue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	<-q.done
}

func (q *auditQueue) run() {
	defer close(q.done)
	for e := range q.ch {
		batch := []storage.AuditEvent{e}
	drain:
		for len(batch) < 256 {
			select {
			case e, ok := <-q.ch:
				if !ok {
					break drain
				}
				batch = append(batch, e)
			default:
				break drain
			}
		}
		if err := q.write(batch); err != nil {
			q.log.Error("audit tool calls", "events", len(batch), "err", err)
		}
	}
}

func (q *auditQueue) write(batch []storage.AuditEvent) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := q.st.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = q.st.Rollback(tx) }()
	for _, e := range batch {
		if err := q.st.AppendAudit(tx, e); err != nil {
			return err
		}
	}
	return q.st.Commit(tx)
}

// readiness is the readiness check of an MCP server that has one (the
// gateway: does the upstream answer).
func readiness(m mcpServer) func(context.Context) error {
	if g, ok := m.(interface{ Ready(context.Context) error }); ok {
		return g.Ready
	}
	return nil
}

// closeMCP ends what the MCP server runs (a gateway's stdio processes).
func closeMCP(m mcpServer) {
	if g, ok := m.(interface{ Close() }); ok {
		g.Close()
	}
}

// behind says what the MCP endpoint serves, for the banner and log.
func behind(c serveConfig, m mcpServer) string {
	if g, ok := m.(interface{ Describe() string }); ok {
		return "gateway to " + g.Describe()
	}
	return "the built-in weather tools (data: " + c.weather + ")"
}
