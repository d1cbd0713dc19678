package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tenantless/tenantless/authz"
	"github.com/tenantless/tenantless/authz/cimd"
	"github.com/tenantless/tenantless/authz/trace"
	"github.com/tenantless/tenantless/resource"
	"github.com/tenantless/tenantless/resource/weather"
	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/web"
)

const serveUsage = `Usage:
  tenantless [serve] [flags]
  tenantless [serve] [flags] --upstream URL        protect your MCP server at URL (Streamable HTTP)
  tenantless [serve] [flags] -- COMMAND [ARGS...]  protect a stdio MCP server, one process per session

Runs the authorization server (and the MCP server it protects) until
interrupted. On first start with no users it creates the user "admin" and
prints its password once (set TENANTLESS_ADMIN_PASSWORD to choose it).
`

// serveConfig is what the serve flags decide.
type serveConfig struct {
	addr, issuer, db      string
	accessTTL, refreshTTL time.Duration
	codeTTL               time.Duration
	logLevel, logFormat   string
	gcInterval            time.Duration
	registration          string
	weather               string
	cimdAllowHosts        stringList
	cimdAllowDomains      stringList
	cimdCA                string
	rateLimits            string
	keyRotation           time.Duration
	tlsCert, tlsKey       string
	tls                   *tls.Config // from tlsCert and tlsKey; nil serves plain http
	metricsAddr           string
	pprof                 bool
	auditRetention        time.Duration
	neverUsedTTL          time.Duration
	unusedTTL             time.Duration
	adminPassword         string // TENANTLESS_ADMIN_PASSWORD, for the first user
	json                  bool   // print the ready line as JSON instead of the banner
	refreshReuseGrace     time.Duration
	signingAlg            string
	traceSize             int
	gateway               gatewayConfig       // an upstream MCP server instead of the weather server
	getenv                func(string) string // the process environment, for a stdio upstream
}

// weatherScopes are the scopes the weather MCP server's tools need.
var weatherScopes = []authz.Scope{
	{Name: resource.ScopeRead, Description: "Read weather forecasts for any place"},
	{Name: resource.ScopeAlerts, Description: "Read active weather alerts for US states"},
}

// verifier lets the MCP server check tokens with the authorization server
// in the same process: no HTTP, and revocation is seen at once.
func verifier(as *authz.Server) resource.Verifier {
	return func(ctx context.Context, token string) (resource.TokenInfo, error) {
		at, err := as.VerifyAccessToken(ctx, token)
		if errors.Is(err, storage.ErrUnavailable) {
			return resource.TokenInfo{}, fmt.Errorf("%w: %w", resource.ErrUnavailable, err)
		}
		if err != nil {
			return resource.TokenInfo{}, err
		}
		return resource.TokenInfo{Subject: at.Subject, ClientID: at.ClientID, Scopes: at.Scopes, Audience: at.Audience, Expiry: at.Expiry}, nil
	}
}

// publicHost is the host[:port] of the issuer URL.
func publicHost(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	return u.Host
}

// serve runs the server until ctx ends. It reads as the list of the
// parts it builds; each part has its own constructor below.
func serve(ctx context.Context, args []string, e env) error {
	c, err := parseServe(args, e)
	if err != nil {
		return err
	}
	log, err := newLogger(e, c.logLevel, c.logFormat)
	if err != nil {
		return err
	}
	st, closeStore, err := openServeStore(ctx, c.db, log)
	if err != nil {
		return err
	}
	defer closeStore()
	ln, err := listen(c.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	issuer := issuerURL(c, ln)
	if c.registration == "" {
		c.registration = defaultRegistration(ln)
	}
	met := newMetricsIf(c)

	tr := newTrace(c, issuer)
	as, adminPassword, err := newAuthServer(ctx, c, st, issuer, log, met, tr)
	if err != nil {
		return err
	}
	mcp, err := newMCPServer(ctx, c, as, st, issuer, log, met, tr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	as.Mount(mux)
	mcp.Mount(mux)
	health(mux, st, readiness(mcp))
	defer closeMCP(mcp)
	stopTrace, err := startTrace(ctx, c, tr, st, as, mux, ln, log)
	if err != nil {
		return err
	}
	defer stopTrace()

	stopMetrics, err := startMetrics(c, met, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	stopBackground := startBackground(ctx, c, st, as, log)
	defer stopBackground()

	srv := httpServer(front(hostGuard(tr.Wrap(mux), publicHost(issuer)), log, met), log)
	log.Info("tenantless is running", "addr", listenAddrs(ln), "issuer", issuer, "db", dbName(c.db), "registration", c.registration,
		"mcp", issuer+resource.Paths[0], "behind", behind(c, mcp))
	return runHTTP(ctx, srv, ln, c.tls, log, func() error {
		if err := announce(e, c.json, ln, issuer, c.db, c.registration, adminPassword, adminFromEnv(ctx, st, e), behind(c, mcp)); err != nil {
			return err
		}
		if !c.json {
			fmt.Fprint(e.Stderr, traceBanner(c, issuer))
		}
		if e.Ready != nil {
			e.Ready(ln.Addr().String())
		}
		return nil
	})
}

// parseServe reads the serve flags (and their TENANTLESS_* fallbacks)
// into a checked serveConfig.
func parseServe(args []string, e env) (serveConfig, error) {
	fs := flagSet(e, "serve", serveUsage)
	var c serveConfig
	args, c.gateway.command = splitCommand(args)
	gatewayFlags(fs, &c.gateway)
	fs.StringVar(&c.addr, "addr", "localhost:8080", "HOST:PORT to listen on; localhost means both 127.0.0.1 and [::1] (env TENANTLESS_ADDR)")
	fs.BoolVar(&c.json, "json", false, "when ready, print one JSON object (snake_case keys: listen, issuer, mcp_url, db, ...) on stdout instead of the banner")
	fs.StringVar(&c.issuer, "issuer", "", "public base URL and OAuth issuer; default http://localhost:<listen port>; set it for a LAN or reverse proxy (env TENANTLESS_ISSUER)")
	db := dbFlag(fs)
	fs.DurationVar(&c.accessTTL, "access-token-ttl", time.Hour, "access token lifetime (env TENANTLESS_ACCESS_TOKEN_TTL)")
	fs.DurationVar(&c.refreshTTL, "refresh-token-ttl", 30*24*time.Hour, "refresh token lifetime, renewed on each rotation (env TENANTLESS_REFRESH_TOKEN_TTL)")
	fs.DurationVar(&c.refreshReuseGrace, "refresh-reuse-grace", 10*time.Second, "a rotated refresh token used again by its client this soon after (two windows refreshing at once, a retry) gets a new token pair instead of revoking the grant; 0 makes every reuse revoke (env TENANTLESS_REFRESH_REUSE_GRACE)")
	fs.DurationVar(&c.codeTTL, "code-ttl", 5*time.Minute, "authorization code lifetime (env TENANTLESS_CODE_TTL)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error (env TENANTLESS_LOG_LEVEL)")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json (env TENANTLESS_LOG_FORMAT)")
	fs.DurationVar(&c.gcInterval, "gc-interval", 10*time.Minute, "how often expired tokens and sessions are deleted (env TENANTLESS_GC_INTERVAL)")
	fs.StringVar(&c.registration, "registration", "", "dynamic client registration: open, token (initial access token required) or off; default open on a loopback listener, token otherwise (env TENANTLESS_REGISTRATION)")
	fs.DurationVar(&c.neverUsedTTL, "dcr-never-used-ttl", 24*time.Hour, "remove a dynamically registered client never used this long after registering (env TENANTLESS_DCR_NEVER_USED_TTL)")
	fs.DurationVar(&c.unusedTTL, "dcr-unused-ttl", 30*24*time.Hour, "remove a dynamically registered client unused this long and holding no live grant (env TENANTLESS_DCR_UNUSED_TTL)")
	fs.StringVar(&c.weather, "weather", "auto", "weather data source: auto (NWS in the US, Open-Meteo elsewhere, sample data when offline), nws, open-meteo or offline (env TENANTLESS_WEATHER)")
	fs.Var(&c.cimdAllowHosts, "cimd-allow-host", "`HOST:PORT` exempt from the address guard for client metadata document fetches, for testing your own client on this machine; repeatable (env TENANTLESS_CIMD_ALLOW_HOST, comma-separated)")
	fs.Var(&c.cimdAllowDomains, "cimd-allow-domains", "only accept client metadata documents from these `DOMAINS` (and subdomains); comma-separated (env TENANTLESS_CIMD_ALLOW_DOMAINS)")
	fs.StringVar(&c.cimdCA, "cimd-ca", "", "PEM file of extra CA certificates trusted for client metadata document fetches (env TENANTLESS_CIMD_CA)")
	fs.StringVar(&c.rateLimits, "rate-limits", "on", "abuse limits: on (per-address limits exempt loopback), all (loopback too) or off (load tests); sign-in failures are limited per account unless off (env TENANTLESS_RATE_LIMITS)")
	fs.DurationVar(&c.keyRotation, "key-rotation", 30*24*time.Hour, "rotate the token signing key this often; 0 turns automatic rotation off (\"tenantless keys rotate\" rotates now) (env TENANTLESS_KEY_ROTATION)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate (chain) to serve https directly; needs --tls-key (env TENANTLESS_TLS_CERT)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key of --tls-cert (env TENANTLESS_TLS_KEY)")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics on this separate listener; empty means off (env TENANTLESS_METRICS_ADDR)")
	fs.BoolVar(&c.pprof, "pprof", false, "also serve Go's profiler at http://ADDR/debug/pprof/ on the --metrics-addr listener, for performance work (env TENANTLESS_PPROF)")
	fs.StringVar(&c.signingAlg, "signing-alg", "ES256", "JWS algorithm of access tokens: ES256 or RS256 (what most JWT libraries assume); switching rotates the key, old keys stay in the JWKS until their tokens expire (env TENANTLESS_SIGNING_ALG)")
	fs.DurationVar(&c.auditRetention, "audit-retention", 90*24*time.Hour, "delete audit log entries older than this (env TENANTLESS_AUDIT_RETENTION)")
	fs.IntVar(&c.traceSize, "trace-size", trace.DefaultSize, "events the live auth trace (/trace, \"tenantless trace\") keeps in memory; 0 turns the trace off (env TENANTLESS_TRACE_SIZE)")
	pos, err := parse(fs, args, e)
	if err != nil {
		return c, err
	}
	if len(pos) > 0 {
		return c, fmt.Errorf("%w: serve takes no arguments, got %q", errUsage, pos)
	}
	if c.pprof && c.metricsAddr == "" {
		return c, fmt.Errorf("%w: --pprof serves the profiler on the metrics listener; add --metrics-addr 127.0.0.1:9090", errUsage)
	}
	c.db = *db
	c.adminPassword = e.Getenv("TENANTLESS_ADMIN_PASSWORD")
	c.getenv = e.Getenv
	if err := checkGateway(c.gateway); err != nil {
		return c, err
	}
	if err := checkServeFlags(c); err != nil {
		return c, err
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"access-token-ttl", c.accessTTL}, {"refresh-token-ttl", c.refreshTTL}, {"code-ttl", c.codeTTL}, {"gc-interval", c.gcInterval},
		{"dcr-never-used-ttl", c.neverUsedTTL}, {"dcr-unused-ttl", c.unusedTTL}, {"audit-retention", c.auditRetention}} {
		if d.v <= 0 {
			return c, fmt.Errorf("%w: --%s must be positive", errUsage, d.name)
		}
	}
	if c.refreshReuseGrace < 0 {
		return c, fmt.Errorf("%w: --refresh-reuse-grace must be 0 or positive", errUsage)
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return c, fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	}
	if c.tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return c, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		c.tls = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	return c, nil
}

// issuerURL is --issuer without a trailing slash or, by default,
// http(s)://localhost:<the port ln listens on>.
func issuerURL(c serveConfig, ln net.Listener) string {
	issuer := c.issuer
	if issuer == "" {
		scheme := "http"
		if c.tls != nil {
			scheme = "https"
		}
		issuer = fmt.Sprintf("%s://localhost:%d", scheme, ln.Addr().(*net.TCPAddr).Port)
	}
	return strings.TrimSuffix(issuer, "/")
}

// defaultRegistration is the registration mode when --registration is not
// given: open on a loopback listener, token elsewhere.
func defaultRegistration(ln net.Listener) string {
	if ip := ln.Addr().(*net.TCPAddr).IP; ip.IsLoopback() {
		return "open"
	}
	return "token"
}

// rateLimits turns --rate-limits (checked by parseServe) into authz's.
func rateLimits(mode string) authz.RateLimits {
	switch mode {
	case "all":
		return authz.RateLimits{IncludeLoopback: true}
	case "off":
		return authz.RateLimits{Off: true}
	}
	return authz.RateLimits{}
}

// newMetricsIf makes the metrics registry when --metrics-addr is set
// (nil otherwise; every metrics method accepts nil).
func newMetricsIf(c serveConfig) *metrics {
	if c.metricsAddr == "" {
		return nil
	}
	return newMetrics()
}

// newAuthServer builds the authorization server for issuer and creates
// the first user when there is none, returning its generated password
// (empty when none was generated).
func newAuthServer(ctx context.Context, c serveConfig, st storage.Store, issuer string, log *slog.Logger, met *metrics, tr *trace.Recorder) (*authz.Server, string, error) {
	resources, err := resourceURLs(issuer)
	if err != nil {
		return nil, "", err
	}
	resolver, err := cimdResolver(c, log, met)
	if err != nil {
		return nil, "", err
	}
	adminPassword, err := ensureAdmin(ctx, st, log, c.adminPassword)
	if err != nil {
		return nil, "", err
	}
	tmpl, err := web.New()
	if err != nil {
		return nil, "", fmt.Errorf("load page templates: %w", err)
	}
	as, err := authz.New(ctx, authz.Config{
		Store:             st,
		Templates:         tmpl,
		Issuer:            issuer,
		Resources:         resources,
		Scopes:            serverScopes(c),
		ResourceName:      resourceName(c),
		SigningAlg:        c.signingAlg,
		AccessTokenTTL:    c.accessTTL,
		RefreshTokenTTL:   c.refreshTTL,
		RefreshReuseGrace: c.refreshReuseGrace,
		CodeTTL:           c.codeTTL,
		Registration:      c.registration,
		CIMD:              resolver,
		RateLimits:        rateLimits(c.rateLimits),
		OnEvent:           onEvent(met),
		Trace:             tr,
		Logger:            log,
	})
	if err != nil {
		return nil, "", err
	}
	return as, adminPassword, nil
}

// mcpServer is what serves the protected MCP endpoints.
type mcpServer interface {
	Mount(mux *http.ServeMux)
}

// newMCPServer builds the built-in weather MCP server, which checks its
// tokens with as, or with --upstream or a command the gateway in front of
// that MCP server. Both report to the auth trace tr (nil: off).
func newMCPServer(ctx context.Context, c serveConfig, as *authz.Server, st storage.Store, issuer string, log *slog.Logger, met *metrics, tr *trace.Recorder) (mcpServer, error) {
	if c.gateway.on() {
		return newGateway(ctx, c, as, st, issuer, log, met, tr)
	}
	provider, err := weather.New(weather.Config{
		Mode:      c.weather,
		UserAgent: "tenantless/" + version + " (+https://github.com/tenantless/tenantless)",
		Logger:    log,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: --weather: %v", errUsage, err)
	}
	return resource.New(resource.Config{
		Provider:            provider,
		Verify:              verifier(as),
		PublicURL:           issuer,
		AuthorizationServer: issuer,
		Version:             version,
		Logger:              log,
		OnToolCall:          onToolCall(met),
		Observe:             traceObserver(tr),
		Intercept:           traceIntercept(tr),
		Stateless:           shared(st),
	})
}

// startMetrics serves met on --metrics-addr (and the profiler with
// --pprof); the returned function stops it. Without metrics it does nothing.
func startMetrics(c serveConfig, met *metrics, log *slog.Logger) (stop func(), err error) {
	if met == nil {
		return func() {}, nil
	}
	mln, err := net.Listen("tcp", c.metricsAddr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s: %w", c.metricsAddr, err)
	}
	msrv := &http.Server{Handler: met.mux(c.pprof), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = msrv.Serve(mln) }()
	log.Info("metrics", "url", "http://"+mln.Addr().String()+"/metrics")
	if c.pprof {
		log.Info("profiler", "url", "http://"+mln.Addr().String()+"/debug/pprof/")
	}
	return func() { _ = msrv.Close() }, nil
}

// startBackground starts the periodic work (key rotation, garbage
// collection, audit pruning, the unused-client sweep); the returned
// function stops it.
func startBackground(ctx context.Context, c serveConfig, st storage.Store, as *authz.Server, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	go as.MaintainKeys(ctx, c.keyRotation)
	maintainResources(ctx, as)
	watchChanges(ctx, st, as, log)
	go collectGarbage(ctx, c.gcInterval, log, exclusive(st, "maintenance", log, func(ctx context.Context) {
		res, err := st.GarbageCollect(ctx, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("garbage collection", "err", err)
		case res.Tokens+res.Sessions+res.Clients+res.InitialAccessTokens > 0:
			log.Info("garbage collected", "tokens", res.Tokens, "sessions", res.Sessions, "clients", res.Clients,
				"initial_access_tokens", res.InitialAccessTokens)
		}
		if n, err := st.PruneAudit(ctx, time.Now().Add(-c.auditRetention)); err != nil && ctx.Err() == nil {
			log.Error("prune audit log", "err", err)
		} else if n > 0 {
			log.Info("pruned audit log", "entries", n)
		}
		ids, err := as.SweepClients(ctx, c.neverUsedTTL, c.unusedTTL)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("sweep unused clients", "err", err)
		case len(ids) > 0:
			log.Info("removed unused dynamically registered clients", "count", len(ids), "client_ids", strings.Join(ids, " "))
		}
	}))
	return cancel
}

// httpServer is the main server around h, with timeouts and limits.
func httpServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// runHTTP serves srv on ln (https when tlsCfg is set), calls ready once
// it accepts connections, and shuts down gracefully when ctx ends.
func runHTTP(ctx context.Context, srv *http.Server, ln net.Listener, tlsCfg *tls.Config, log *slog.Logger, ready func() error) error {
	errc := make(chan error, 1)
	if tlsCfg != nil {
		srv.TLSConfig = tlsCfg
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	if err := ready(); err != nil {
		_ = srv.Close()
		return err
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// resourceURLs lists the MCP resource URLs tokens may be issued for: each
// MCP path under the issuer and, when the issuer is on loopback, under
// every loopback spelling of it (clients use localhost, 127.0.0.1 and
// [::1] interchangeably; each must get a token for the URL it used).
func resourceURLs(issuer string) ([]string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%w: --issuer %q is not an absolute URL", errUsage, issuer)
	}
	hosts := []string{u.Host}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		port := u.Port()
		for _, h := range []string{"localhost", "127.0.0.1", "[::1]"} {
			hp := h
			if port != "" {
				hp += ":" + port
			}
			if hp != u.Host {
				hosts = append(hosts, hp)
			}
		}
	}
	var out []string
	for _, h := range hosts {
		for _, p := range resource.Paths {
			out = append(out, u.Scheme+"://"+h+strings.TrimSuffix(u.Path, "/")+p)
		}
	}
	return out, nil
}

// cimdResolver builds the client metadata document resolver from the flags.
func cimdResolver(c serveConfig, log *slog.Logger, met *metrics) (*cimd.Resolver, error) {
	cfg := cimd.Config{AllowHosts: c.cimdAllowHosts, AllowDomains: c.cimdAllowDomains, Logger: log}
	if met != nil {
		cfg.OnResolve = func(result string) { met.cimd.WithLabelValues(result).Inc() }
	}
	if c.cimdCA != "" {
		pem, err := os.ReadFile(c.cimdCA)
		if err != nil {
			return nil, fmt.Errorf("--cimd-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: --cimd-ca %s holds no PEM certificate", errUsage, c.cimdCA)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return cimd.New(cfg), nil
}

// onEvent counts audited events in met (nil: no metrics).
func onEvent(met *metrics) func(typ, outcome string) {
	if met == nil {
		return nil
	}
	return func(typ, outcome string) { met.events.WithLabelValues(typ, outcome).Inc() }
}

// onToolCall counts tool calls in met (nil: no metrics).
func onToolCall(met *metrics) func(tool, outcome string) {
	if met == nil {
		return nil
	}
	return func(tool, outcome string) { met.tools.WithLabelValues(tool, outcome).Inc() }
}

// ensureAdmin creates the user "admin" when there are no users, with
// the given password or, if empty, a generated one, which it returns (the
// only time it is ever shown).
func ensureAdmin(ctx context.Context, st storage.Store, log *slog.Logger, password string) (generated string, err error) {
	n, err := st.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	pw := password
	if pw == "" {
		pw = authz.GeneratePassword()
	}
	u, err := authz.NewUser("admin", pw, time.Now())
	if err != nil {
		return "", fmt.Errorf("TENANTLESS_ADMIN_PASSWORD: %w", err)
	}
	u.Admin = true // the first user may open the auth trace
	if err := st.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return "", nil // another process created it first
		}
		return "", err
	}
	if err := st.AppendAudit(ctx, storage.AuditEvent{Time: time.Now().UTC(), Type: authz.AuditUserCreated, UserID: u.ID,
		Outcome: "success", Detail: "admin, on the first start", Actor: storage.ActorServer}); err != nil {
		return "", err
	}
	if password != "" {
		log.Info("created user admin with the password from TENANTLESS_ADMIN_PASSWORD")
		return "", nil
	}
	return pw, nil
}

// banner is what a person sees when the server is ready: where things
// are, and how to connect the usual clients.
func banner(issuer, db, adminPassword string, adminFromEnv bool, behind string) string {
	// The name the client snippets give the server: "weather" for the
	// built-in tools, "mcp" for the user's own server behind the gateway.
	name := "weather"
	if strings.HasPrefix(behind, "gateway to ") {
		name = "mcp"
	}
	abs := dbName(db)
	mcpURL := issuer + resource.Paths[0]
	var b strings.Builder
	fmt.Fprintf(&b, "\n  tenantless is ready\n\n")
	fmt.Fprintf(&b, "    MCP server     %s\n", mcpURL)
	fmt.Fprintf(&b, "    Behind it      %s\n", behind)
	fmt.Fprintf(&b, "    OAuth issuer   %s\n", issuer)
	fmt.Fprintf(&b, "    Your apps      %s/account\n", issuer)
	fmt.Fprintf(&b, "    Database       %s\n", abs)
	if adminPassword != "" {
		fmt.Fprintf(&b, "    Sign in as     admin / %s   (generated now and shown once;\n", adminPassword)
		fmt.Fprintf(&b, "                   change it with: tenantless user passwd admin)\n")
	} else if adminFromEnv {
		fmt.Fprintf(&b, "    Sign in as     admin   (password: TENANTLESS_ADMIN_PASSWORD, unless changed since)\n")
	}
	fmt.Fprintf(&b, "\n  Connect a client (each one registers itself and opens the sign-in page):\n\n")
	fmt.Fprintf(&b, "    VS Code        .vscode/mcp.json:\n")
	fmt.Fprintf(&b, "                   { \"servers\": { \"%s\": { \"type\": \"http\", \"url\": \"%s\" } } }\n", name, mcpURL)
	fmt.Fprintf(&b, "    MCP Inspector  npx @modelcontextprotocol/inspector\n")
	fmt.Fprintf(&b, "                   then Streamable HTTP, URL %s, Connect\n", mcpURL)
	fmt.Fprintf(&b, "    Claude Code    claude mcp add --transport http %s %s\n\n", name, mcpURL)
	return b.String()
}

// collectGarbage runs collect now and then every interval until ctx ends.
func collectGarbage(ctx context.Context, every time.Duration, log *slog.Logger, collect func(context.Context)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		collect(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func newLogger(e env, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: use debug, info, warn or error", errUsage, level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(e.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: use text or json", errUsage, format)
}
