package cimd

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultTimeout       = 5 * time.Second
	DefaultMaxBytes      = 5120 // the draft's recommended 5 KB (§6.6)
	DefaultMinTTL        = 5 * time.Minute
	DefaultMaxTTL        = 24 * time.Hour
	DefaultMaxConcurrent = 8
	DefaultMaxEntries    = 1024
	// DefaultRefetchInterval is the least time between two fetches of one
	// document before its copy expires (see Config.RefetchInterval).
	DefaultRefetchInterval = 2 * time.Second
)

// Config configures a Resolver. Every field is optional; the zero Config
// fetches any public https document with the defaults above.
type Config struct {
	// AllowHosts lists exact "host:port" values (as in the client_id URL,
	// port 443 when it has none; a bare "host" means host:443) whose
	// fetches skip the special-use address check, for local test servers
	// such as "127.0.0.1:8443" or "localhost:8443". Only those exact values
	// are exempt: "127.0.0.1:8443" does not exempt "[::ffff:127.0.0.1]:8443"
	// or "localhost:8443". A listed host is also accepted when AllowDomains
	// would refuse it.
	AllowHosts []string
	// AllowDomains, when non-empty, restricts document hosts to these
	// domains and their subdomains ("vscode.dev" admits vscode.dev and
	// insiders.vscode.dev, not evilvscode.dev); others are refused before
	// any network access (draft §6.8 trust policy). Empty: any host.
	AllowDomains []string
	// RootCAs adds trusted certificate authorities for the document
	// servers, on top of the system roots (a server is trusted when either
	// verifies it). Nil: system roots only.
	RootCAs *x509.CertPool
	// Timeout bounds one fetch: connecting, TLS, and reading the body.
	// Waiting for a free fetch slot is bounded separately by the same
	// value. Zero: DefaultTimeout.
	Timeout time.Duration
	// MaxBytes is the largest document accepted. Zero: DefaultMaxBytes.
	MaxBytes int64
	// MinTTL and MaxTTL bound how long a fetched document is reused,
	// whatever its Cache-Control or Expires headers say. Zero:
	// DefaultMinTTL and DefaultMaxTTL. A MaxTTL below MinTTL is raised to
	// MinTTL.
	MinTTL, MaxTTL time.Duration
	// MaxConcurrent bounds the fetches running at once. Zero:
	// DefaultMaxConcurrent.
	MaxConcurrent int
	// MaxEntries bounds the documents cached; the one stored longest ago is
	// evicted first. Zero: DefaultMaxEntries.
	MaxEntries int
	// RefetchInterval is the per-document bound on fetches made before a
	// copy expires: for a Revalidate document (no-store, no-cache,
	// max-age=0), which Resolve fetches again for each use, and for
	// Refresh. A copy fetched less than RefetchInterval ago is used
	// instead, so neither can make the server fetch one document in a
	// loop. Zero: DefaultRefetchInterval.
	RefetchInterval time.Duration
	// Now returns the current time, for cache expiry. Nil: time.Now.
	Now func() time.Time
	// Logger receives one record per fetch. Nil: logs are discarded.
	Logger *slog.Logger
	// OnResolve, if set, is told the result of every Resolve: "cache_hit",
	// "fetched" or "failed" (for metrics).
	OnResolve func(result string)
	// LookupIP resolves a host name to its addresses. Every address
	// returned is checked, and the dialer checks again the address it
	// actually connects to. Nil: net.DefaultResolver.LookupNetIP with
	// network "ip". Tests use it to make a name resolve to a chosen address.
	LookupIP func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Validate reports configuration mistakes New would otherwise ignore:
// negative values, MinTTL above MaxTTL, and AllowHosts or AllowDomains
// entries that can never match. Call it where flags are parsed.
func (c Config) Validate() error {
	var errs []error
	if c.Timeout < 0 || c.MaxBytes < 0 || c.MinTTL < 0 || c.MaxTTL < 0 || c.MaxConcurrent < 0 || c.MaxEntries < 0 || c.RefetchInterval < 0 {
		errs = append(errs, errors.New("the limits Timeout, MaxBytes, MinTTL, MaxTTL, MaxConcurrent, MaxEntries and RefetchInterval must not be negative"))
	}
	if c.MinTTL > 0 && c.MaxTTL > 0 && c.MinTTL > c.MaxTTL {
		errs = append(errs, fmt.Errorf("MinTTL %v is above MaxTTL %v", c.MinTTL, c.MaxTTL))
	}
	for _, h := range c.AllowHosts {
		if _, err := normalizeHostPort(h); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range c.AllowDomains {
		if _, err := normalizeDomain(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// normalizeHostPort turns an AllowHosts entry into the form hostPort
// returns.
func normalizeHostPort(entry string) (string, error) {
	e := strings.TrimSpace(entry)
	if strings.Contains(e, "/") || strings.Contains(e, "@") {
		return "", fmt.Errorf("allowed host %q must be HOST:PORT, not a URL", entry)
	}
	host, port, err := net.SplitHostPort(e)
	if err != nil {
		if strings.Contains(e, ":") {
			return "", fmt.Errorf("allowed host %q must be HOST:PORT (bracket IPv6 addresses: [::1]:8443)", entry)
		}
		host, port = e, "443"
	}
	if host == "" {
		return "", fmt.Errorf("allowed host %q has no host", entry)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("allowed host %q has an invalid port", entry)
	}
	return net.JoinHostPort(strings.ToLower(host), port), nil
}

// normalizeDomain turns an AllowDomains entry into a lower-case name
// without leading or trailing dots.
func normalizeDomain(entry string) (string, error) {
	d := strings.Trim(strings.ToLower(strings.TrimSpace(entry)), ".")
	if d == "" || strings.ContainsAny(d, "/:@ ") {
		return "", fmt.Errorf("allowed domain %q must be a domain name such as vscode.dev", entry)
	}
	return d, nil
}

// Resolver fetches, validates and caches client metadata documents. It is
// safe for concurrent use. Create one with New and share it.
type Resolver struct {
	timeout        time.Duration
	maxBytes       int64
	minTTL, maxTTL time.Duration
	refetch        time.Duration
	now            func() time.Time
	log            *slog.Logger
	lookupIP       func(ctx context.Context, host string) ([]netip.Addr, error)
	allowHosts     map[string]bool
	allowDomains   []string
	extraRoots     *x509.CertPool
	client         *http.Client
	slots          chan struct{} // a token per running fetch
	onResolve      func(result string)

	mu       sync.Mutex
	cache    *docCache
	inflight map[string]*call

	// onJoin, when set (by tests), is called each time a Resolve joins a
	// fetch already in flight.
	onJoin func()
}

// call is one fetch in flight, shared by every Resolve of its URL.
type call struct {
	done chan struct{} // closed when doc and err are set
	doc  Document
	err  error
}

// New returns a Resolver for cfg. Invalid AllowHosts and AllowDomains
// entries are ignored and negative values replaced by defaults; use
// Config.Validate to report them.
func New(cfg Config) *Resolver {
	def := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	r := &Resolver{
		onResolve:  cfg.OnResolve,
		timeout:    def(cfg.Timeout, DefaultTimeout),
		maxBytes:   cfg.MaxBytes,
		minTTL:     def(cfg.MinTTL, DefaultMinTTL),
		maxTTL:     def(cfg.MaxTTL, DefaultMaxTTL),
		refetch:    def(cfg.RefetchInterval, DefaultRefetchInterval),
		now:        cfg.Now,
		log:        cfg.Logger,
		lookupIP:   cfg.LookupIP,
		allowHosts: make(map[string]bool),
		extraRoots: cfg.RootCAs,
		inflight:   make(map[string]*call),
	}
	if r.maxBytes <= 0 {
		r.maxBytes = DefaultMaxBytes
	}
	r.maxTTL = max(r.maxTTL, r.minTTL)
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.lookupIP == nil {
		r.lookupIP = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	for _, h := range cfg.AllowHosts {
		if hp, err := normalizeHostPort(h); err == nil {
			r.allowHosts[hp] = true
		}
	}
	for _, d := range cfg.AllowDomains {
		if nd, err := normalizeDomain(d); err == nil {
			r.allowDomains = append(r.allowDomains, nd)
		}
	}
	slots := cfg.MaxConcurrent
	if slots <= 0 {
		slots = DefaultMaxConcurrent
	}
	r.slots = make(chan struct{}, slots)
	entries := cfg.MaxEntries
	if entries <= 0 {
		entries = DefaultMaxEntries
	}
	r.cache = newDocCache(entries)
	r.client = r.newHTTPClient()
	return r
}

// Resolve returns the validated document for clientID, from the cache when
// a fresh copy is there (no I/O, a map lookup under a mutex) and otherwise
// by fetching it (draft-ietf-oauth-client-id-metadata-document-01 §4).
// A copy is fresh until its ExpiresAt; a Revalidate copy (served with
// no-store, no-cache or max-age=0) only for Config.RefetchInterval after
// it was fetched, so each new use fetches it again.
// Concurrent calls for one URL share one fetch; each caller stops waiting
// when its own ctx ends, while the fetch itself runs on, bounded by
// Config.Timeout, so its result can serve the others. Failures are never
// cached.
//
// Every error is an *Error whose message can be shown to the user as is
// (draft §4.3: abort the request and do not redirect). KindBusy is
// transient (answer temporarily_unavailable or 503); KindCanceled means the
// caller's own context ended; every other Kind is a problem with the
// client's document or its host, for which invalid_client fits.
//
// Callers must not hold a database transaction across Resolve: a miss
// can take up to twice Config.Timeout (waiting for a slot, then fetching).
func (r *Resolver) Resolve(ctx context.Context, clientID string) (Document, error) {
	return r.report(r.resolve(ctx, clientID, r.usable))
}

// Refresh is Resolve for a copy that is known not to fit, such as one
// that does not list the redirect URI a client asks for: it fetches the
// document again unless the cached copy was fetched less than
// Config.RefetchInterval ago, in which case that copy is returned.
func (r *Resolver) Refresh(ctx context.Context, clientID string) (Document, error) {
	return r.report(r.resolve(ctx, clientID, r.recent))
}

// Lookup returns the copy Resolve would return without fetching, if any.
func (r *Resolver) Lookup(clientID string) (Document, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if d, ok := r.cache.get(clientID, now); ok && r.usable(d, now) {
		return d.clone(), true
	}
	return Document{}, false
}

// usable reports whether Resolve may answer with the cached copy d.
func (r *Resolver) usable(d Document, now time.Time) bool {
	return !d.Revalidate || r.recent(d, now)
}

// recent reports whether d was fetched less than RefetchInterval ago.
func (r *Resolver) recent(d Document, now time.Time) bool {
	return now.Sub(d.FetchedAt) < r.refetch
}

func (r *Resolver) report(d Document, hit bool, err error) (Document, error) {
	if f := r.onResolve; f != nil {
		switch {
		case err != nil:
			f("failed")
		case hit:
			f("cache_hit")
		default:
			f("fetched")
		}
	}
	return d, err
}

// resolve answers from a cached copy that use accepts, or joins or starts
// a fetch.
func (r *Resolver) resolve(ctx context.Context, clientID string, use func(Document, time.Time) bool) (Document, bool, error) {
	checked := false
	for {
		r.mu.Lock()
		now := r.now()
		if d, ok := r.cache.get(clientID, now); ok && use(d, now) {
			r.mu.Unlock()
			return d.clone(), true, nil
		}
		c, running := r.inflight[clientID]
		if !running && checked {
			c = &call{done: make(chan struct{})}
			r.inflight[clientID] = c
			r.mu.Unlock()
			go r.run(context.WithoutCancel(ctx), clientID, c)
			d, err := r.wait(ctx, clientID, c)
			return d, false, err
		}
		join := r.onJoin
		r.mu.Unlock()
		if running {
			if join != nil {
				join()
			}
			d, err := r.wait(ctx, clientID, c)
			return d, false, err
		}
		if err := r.precheck(clientID); err != nil {
			return Document{}, false, err
		}
		checked = true
	}
}

// wait returns the result of c, or a KindCanceled error when ctx ends first.
func (r *Resolver) wait(ctx context.Context, clientID string, c *call) (Document, error) {
	select {
	case <-c.done:
		if c.err != nil {
			return Document{}, c.err
		}
		return c.doc.clone(), nil
	case <-ctx.Done():
		return Document{}, newError(KindCanceled, clientID, ctx.Err(),
			"stopped waiting for %s: %v", docAt(clientID), ctx.Err())
	}
}

// run performs the fetch for c and publishes the result: a success into the
// cache, a failure only to the callers already waiting.
func (r *Resolver) run(ctx context.Context, clientID string, c *call) {
	start := time.Now()
	doc, err := r.fetchLimited(ctx, clientID)
	if err != nil {
		r.log.WarnContext(ctx, "cimd document refused",
			slog.String("client_id", clientID), slog.String("kind", KindOf(err).String()),
			slog.Duration("elapsed", time.Since(start)), slog.Any("err", err))
	} else {
		r.log.InfoContext(ctx, "cimd document fetched",
			slog.String("client_id", clientID), slog.Duration("elapsed", time.Since(start)),
			slog.Time("expires_at", doc.ExpiresAt))
	}
	r.mu.Lock()
	delete(r.inflight, clientID)
	if err == nil {
		r.cache.put(clientID, doc)
	}
	c.doc, c.err = doc, err
	r.mu.Unlock()
	close(c.done)
}

// precheck refuses, without any network access, a clientID that is not a
// valid URL, is outside AllowDomains, or names a special-use IP literal.
func (r *Resolver) precheck(clientID string) error {
	u, err := parseClientIDURL(clientID)
	if err != nil {
		return err
	}
	exempt := r.allowHosts[hostPort(u)]
	if len(r.allowDomains) > 0 && !exempt && !r.domainAllowed(u.Hostname()) {
		return newError(KindNotAllowed, clientID, nil,
			"%s is on host %s, which is not in the allowed client domains (%s); tenantless refuses to fetch it",
			docAt(clientID), u.Hostname(), strings.Join(r.allowDomains, ", "))
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !exempt {
		if reason := blockedReason(ip); reason != "" {
			return blockedAddress(clientID, u, ip, reason, nil)
		}
	}
	return nil
}

// domainAllowed reports whether host is one of the allowed domains or a
// subdomain of one.
func (r *Resolver) domainAllowed(host string) bool {
	host = strings.ToLower(host)
	for _, d := range r.allowDomains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// blockedAddress builds the KindBlockedAddress error for u reaching ip.
func blockedAddress(clientID string, u *url.URL, ip netip.Addr, reason string, cause error) error {
	verb := "resolves to"
	if _, err := netip.ParseAddr(u.Hostname()); err == nil {
		verb = "points at"
	}
	return newError(KindBlockedAddress, clientID, cause,
		"%s %s %s, %s; tenantless refuses to fetch it (use --cimd-allow-host %s to allow a local test server)",
		docAt(clientID), verb, ip, reason, hostPort(u))
}

// fetchLimited takes a fetch slot, waiting at most the timeout, and fetches.
func (r *Resolver) fetchLimited(ctx context.Context, clientID string) (Document, error) {
	select {
	case r.slots <- struct{}{}:
	default:
		t := time.NewTimer(r.timeout)
		defer t.Stop()
		select {
		case r.slots <- struct{}{}:
		case <-t.C:
			return Document{}, newError(KindBusy, clientID, nil,
				"tenantless is busy fetching %d other client metadata documents and could not fetch %s within %v; try again shortly",
				cap(r.slots), clientID, r.timeout)
		}
	}
	defer func() { <-r.slots }()
	return r.fetch(ctx, clientID)
}
