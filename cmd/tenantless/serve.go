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
	"github.com/tenantless/tenantless/resource"
	"github.com/tenantless/tenantless/resource/weather"
	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/web"
)

const serveUsage = `Usage:
  tenantless [serve] [flags]

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
	metricsAddr           string
	pprof                 bool
	auditRetention        time.Duration
	neverUsedTTL          time.Duration
	unusedTTL             time.Duration
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

func serve(ctx context.Context, args []string, e env) error {
	fs := flagSet(e, "serve", serveUsage)
	var c serveConfig
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on (env TENANTLESS_ADDR)")
	fs.StringVar(&c.issuer, "issuer", "", "public base URL and OAuth issuer; default http://localhost:<listen port>; set it for a LAN or reverse proxy (env TENANTLESS_ISSUER)")
	db := dbFlag(fs)
	fs.DurationVar(&c.accessTTL, "access-token-ttl", time.Hour, "access token lifetime (env TENANTLESS_ACCESS_TOKEN_TTL)")
	fs.DurationVar(&c.refreshTTL, "refresh-token-ttl", 30*24*time.Hour, "refresh token lifetime, renewed on each rotation (env TENANTLESS_REFRESH_TOKEN_TTL)")
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
	fs.DurationVar(&c.auditRetention, "audit-retention", 90*24*time.Hour, "delete audit log entries older than this (env TENANTLESS_AUDIT_RETENTION)")
	pos, err := parse(fs, args, e)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: serve takes no arguments, got %q", errUsage, pos)
	}
	if c.pprof && c.metricsAddr == "" {
		return fmt.Errorf("%w: --pprof serves the profiler on the metrics listener; add --metrics-addr 127.0.0.1:9090", errUsage)
	}
	c.db = *db
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"access-token-ttl", c.accessTTL}, {"refresh-token-ttl", c.refreshTTL}, {"code-ttl", c.codeTTL}, {"gc-interval", c.gcInterval},
		{"dcr-never-used-ttl", c.neverUsedTTL}, {"dcr-unused-ttl", c.unusedTTL}, {"audit-retention", c.auditRetention}} {
		if d.v <= 0 {
			return fmt.Errorf("%w: --%s must be positive", errUsage, d.name)
		}
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	}
	var tlsCfg *tls.Config
	if c.tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	log, err := newLogger(e, c.logLevel, c.logFormat)
	if err != nil {
		return err
	}

	st, err := openStore(ctx, c.db)
	if err != nil {
		return err
	}
	defer st.Close()

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another server using the port? choose one with --addr)", c.addr, err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	issuer := c.issuer
	if issuer == "" {
		scheme := "http"
		if tlsCfg != nil {
			scheme = "https"
		}
		issuer = fmt.Sprintf("%s://localhost:%d", scheme, port)
	}
	issuer = strings.TrimSuffix(issuer, "/")
	resources, err := resourceURLs(issuer)
	if err != nil {
		return err
	}

	if c.registration == "" {
		c.registration = "token"
		if ip := ln.Addr().(*net.TCPAddr).IP; ip.IsLoopback() {
			c.registration = "open"
		}
	}
	var limits authz.RateLimits
	switch c.rateLimits {
	case "on":
	case "all":
		limits.IncludeLoopback = true
	case "off":
		limits.Off = true
	default:
		return fmt.Errorf("%w: --rate-limits %q: use on, all or off", errUsage, c.rateLimits)
	}
	var met *metrics
	if c.metricsAddr != "" {
		met = newMetrics()
	}
	resolver, err := cimdResolver(c, log, met)
	if err != nil {
		return err
	}
	adminPassword, err := ensureAdmin(ctx, st, log, e.Getenv("TENANTLESS_ADMIN_PASSWORD"))
	if err != nil {
		return err
	}
	tmpl, err := web.New()
	if err != nil {
		return fmt.Errorf("load page templates: %w", err)
	}
	as, err := authz.New(ctx, authz.Config{
		Store:           st,
		Templates:       tmpl,
		Issuer:          issuer,
		Resources:       resources,
		Scopes:          weatherScopes,
		AccessTokenTTL:  c.accessTTL,
		RefreshTokenTTL: c.refreshTTL,
		CodeTTL:         c.codeTTL,
		Registration:    c.registration,
		CIMD:            resolver,
		RateLimits:      limits,
		OnEvent:         onEvent(met),
		Logger:          log,
	})
	if err != nil {
		return err
	}
	provider, err := weather.New(weather.Config{
		Mode:      c.weather,
		UserAgent: "tenantless/" + version + " (+https://github.com/tenantless/tenantless)",
		Logger:    log,
	})
	if err != nil {
		return fmt.Errorf("%w: --weather: %v", errUsage, err)
	}
	rs, err := resource.New(resource.Config{
		Provider:            provider,
		Verify:              verifier(as),
		PublicURL:           issuer,
		AuthorizationServer: issuer,
		Version:             version,
		Logger:              log,
		OnToolCall:          onToolCall(met),
		Stateless:           shared(st),
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	as.Mount(mux)
	rs.Mount(mux)
	health(mux, st)
	if met != nil {
		mln, err := net.Listen("tcp", c.metricsAddr)
		if err != nil {
			return fmt.Errorf("--metrics-addr %s: %w", c.metricsAddr, err)
		}
		msrv := &http.Server{Handler: met.mux(c.pprof), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = msrv.Serve(mln) }()
		defer msrv.Close()
		log.Info("metrics", "url", "http://"+mln.Addr().String()+"/metrics")
		if c.pprof {
			log.Info("profiler", "url", "http://"+mln.Addr().String()+"/debug/pprof/")
		}
	}

	srv := &http.Server{
		Handler:           front(hostGuard(mux, publicHost(issuer)), log, met),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	gcCtx, stopGC := context.WithCancel(ctx)
	defer stopGC()
	go as.MaintainKeys(gcCtx, c.keyRotation)
	watchChanges(gcCtx, st, as, log)
	go collectGarbage(gcCtx, c.gcInterval, log, exclusive(st, "maintenance", log, func(ctx context.Context) {
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

	errc := make(chan error, 1)
	if tlsCfg != nil {
		srv.TLSConfig = tlsCfg
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	log.Info("tenantless is running", "addr", ln.Addr().String(), "issuer", issuer, "db", dbName(c.db), "registration", c.registration,
		"mcp", issuer+resource.Paths[0], "weather", c.weather)
	fmt.Fprint(e.Stderr, banner(issuer, c.db, adminPassword))
	if e.Ready != nil {
		e.Ready(ln.Addr().String())
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
	if err := st.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return "", nil // another process created it first
		}
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
func banner(issuer, db, adminPassword string) string {
	abs := dbName(db)
	mcpURL := issuer + resource.Paths[0]
	var b strings.Builder
	fmt.Fprintf(&b, "\n  tenantless is ready\n\n")
	fmt.Fprintf(&b, "    MCP server     %s\n", mcpURL)
	fmt.Fprintf(&b, "    OAuth issuer   %s\n", issuer)
	fmt.Fprintf(&b, "    Your apps      %s/account\n", issuer)
	fmt.Fprintf(&b, "    Database       %s\n", abs)
	if adminPassword != "" {
		fmt.Fprintf(&b, "    Sign in as     admin / %s   (generated now and shown once;\n", adminPassword)
		fmt.Fprintf(&b, "                   change it with: tenantless user passwd admin)\n")
	}
	fmt.Fprintf(&b, "\n  Connect a client (each one registers itself and opens the sign-in page):\n\n")
	fmt.Fprintf(&b, "    VS Code        .vscode/mcp.json:\n")
	fmt.Fprintf(&b, "                   { \"servers\": { \"weather\": { \"type\": \"http\", \"url\": \"%s\" } } }\n", mcpURL)
	fmt.Fprintf(&b, "    MCP Inspector  npx @modelcontextprotocol/inspector\n")
	fmt.Fprintf(&b, "                   then Streamable HTTP, URL %s, Connect\n", mcpURL)
	fmt.Fprintf(&b, "    Claude Code    claude mcp add --transport http weather %s\n\n", mcpURL)
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
