package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"

	"github.com/tenantless/tenantless/authz/cimd"
	"github.com/tenantless/tenantless/authz/trace"
	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/web"
)

// Scope is one OAuth scope the server can grant.
type Scope struct {
	// Name is the scope token, e.g. "weather:read".
	Name string
	// Description tells a person on the consent page what it allows.
	Description string
}

// Config configures a Server.
type Config struct {
	// Store persists everything. Required.
	Store storage.Store
	// Templates renders the sign-in, consent and error pages. Required.
	Templates *web.Templates
	// Issuer is the issuer identifier (RFC 8414 §2): an http(s) URL with no
	// query, fragment or trailing slash, e.g. "http://localhost:8080".
	// Endpoints are served under it. Required.
	Issuer string
	// Resources are the URLs of the built-in resource (the MCP server, or
	// gateway, this process serves): RFC 8707 resource indicators a
	// requested resource is compared with (scheme and host
	// case-insensitively), becoming the token's "aud". The first is the
	// default when a request names none. Resources registered in the store
	// (AddResource) are served besides it. Required.
	Resources []string
	// Scopes are the scopes of the built-in resource (Resources). Required.
	Scopes []Scope
	// ResourceName names the built-in resource on the consent page and in
	// "tenantless resource list"; empty means "MCP server".
	ResourceName string
	// ResourceDescription describes the built-in resource; may be empty.
	ResourceDescription string
	// SigningAlg is the JWS algorithm of access tokens: "ES256" or
	// "RS256"; empty means ES256. Changing it rotates the signing key at
	// start-up; keys of the other algorithm stay published until the
	// tokens they signed have expired.
	SigningAlg string
	// AccessTokenTTL is the access token lifetime; zero means 1 hour.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is the refresh token lifetime, renewed on every
	// rotation; zero means 30 days.
	RefreshTokenTTL time.Duration
	// RefreshReuseGrace is how long after its rotation a refresh token may
	// be presented again by its client (two windows of one editor
	// refreshing at once, a retry after a lost answer) and still be
	// answered with a new token pair, revoking nothing. A reuse after it
	// revokes the grant (RFC 9700 §4.14.2 reuse detection). Zero means
	// no grace: every reuse revokes.
	RefreshReuseGrace time.Duration
	// CodeTTL is the authorization code lifetime; zero means 5 minutes.
	CodeTTL time.Duration
	// SessionTTL is how long a sign-in lasts; zero means 12 hours.
	SessionTTL time.Duration
	// Registration is RegistrationOpen, RegistrationToken or
	// RegistrationOff; empty means RegistrationOpen.
	Registration string
	// RateLimits configures abuse limits; the zero value is on, with
	// loopback addresses exempt from per-address limits.
	RateLimits RateLimits
	// OnEvent, if set, is told the type and outcome of every audited event
	// (for metrics).
	OnEvent func(typ, outcome string)
	// CIMD resolves client_id URLs (client ID metadata documents); nil
	// turns metadata-document clients off.
	CIMD *cimd.Resolver
	// Trace, if set, is told what each request decided (the live auth
	// trace) and serves the /trace page to admins; nil turns both off.
	Trace *trace.Recorder
	// Logger receives structured logs; nil means discard.
	Logger *slog.Logger
	// Now is the clock for sessions and consent; nil means time.Now.
	Now func() time.Time
}

// Server is the OAuth 2.1 authorization server: fosite for the protocol,
// plus sign-in, consent, RFC 8707 resources, RFC 9207 iss, metadata and
// JWKS. Create it with New and add its routes with Mount.
type Server struct {
	store  storage.Store
	tmpl   *web.Templates
	issuer string
	// registry is every resource tokens are issued for (resources.go).
	registry   *registry
	signingAlg string
	// warnedAlg is the kid of the last current key of another algorithm
	// than signingAlg that was logged (keys.go).
	warnMu       sync.Mutex
	warnedAlg    string
	log          *slog.Logger
	now          func() time.Time
	sessionTTL   time.Duration
	refreshGrace time.Duration
	secure       bool
	registration string
	cimd         *cimd.Resolver
	onEvent      func(typ, outcome string)
	trace        *trace.Recorder

	cfg      *fosite.Config
	provider fosite.OAuth2Provider
	// clientAuth is provider's client authentication.
	clientAuth clientAuthenticator
	keys       *keySet
	hasher     *SecretHasher
	csrfKey    []byte
	// dummyHash is verified against when a username is unknown, so that
	// an unknown user costs as much time as a wrong password.
	dummyHash func() string
	// passwordSlots bounds how many password checks run at once.
	passwordSlots chan struct{}
	// slots bounds how many OAuth requests run at once (admission.go).
	slots chan struct{}
	// verified caches access token verifications (verify.go).
	verified tokenCache
	// fstore is the storage fosite's handlers use.
	fstore *fositeStore
	// clients caches client records by ID (clientcache.go).
	clients ttlCache[string, storage.Client]
	limits  *limits
	// watch says whether another process's changes reach the caches
	// (invalidate.go).
	watch watchState
	// touched is when each client was last recorded as used (touchClient).
	touchMu sync.Mutex
	touched map[string]time.Time
}

const hmacSecretName = "fosite-global-hmac"

// New builds a Server. It loads (or, on first start, creates and stores)
// the token HMAC secret, the client-secret key, the CSRF key and an ES256
// signing key, so a restart keeps every grant valid.
func New(ctx context.Context, c Config) (*Server, error) {
	if c.Store == nil || c.Templates == nil {
		return nil, errors.New("the configuration needs a Store and Templates")
	}
	iss, err := url.Parse(c.Issuer)
	if err != nil || (iss.Scheme != "http" && iss.Scheme != "https") || iss.Host == "" ||
		iss.RawQuery != "" || iss.Fragment != "" || strings.HasSuffix(c.Issuer, "/") {
		return nil, fmt.Errorf("issuer %q must be an http(s) URL without query, fragment or trailing slash", c.Issuer)
	}
	if len(c.Resources) == 0 || len(c.Scopes) == 0 {
		return nil, errors.New("at least one resource and one scope are required")
	}
	resources := make([]string, 0, len(c.Resources))
	for _, r := range c.Resources {
		canon, err := canonicalResource(r)
		if err != nil {
			return nil, fmt.Errorf("resource %q: %w", r, err)
		}
		if !slices.Contains(resources, canon) {
			resources = append(resources, canon)
		}
	}
	switch c.SigningAlg {
	case "":
		c.SigningAlg = AlgES256
	case AlgES256, AlgRS256:
	default:
		return nil, fmt.Errorf("authz: signing algorithm %q: use ES256 or RS256", c.SigningAlg)
	}
	builtin := &servedResource{
		rec: storage.Resource{URL: resources[0], Aliases: resources[1:], Name: c.ResourceName, Description: c.ResourceDescription,
			Source: storage.ResourceSourceBuiltin, CreatedAt: time.Now().UTC().Truncate(time.Second)},
	}
	if builtin.rec.Name == "" {
		builtin.rec.Name = "MCP server"
	}
	for _, sc := range c.Scopes {
		if !validScopeToken(sc.Name) {
			return nil, fmt.Errorf("authz: scope %q is not a valid scope token", sc.Name)
		}
		builtin.rec.Scopes = append(builtin.rec.Scopes, sc.Name)
		if sc.Description != "" {
			if builtin.rec.ScopeDescriptions == nil {
				builtin.rec.ScopeDescriptions = map[string]string{}
			}
			builtin.rec.ScopeDescriptions[sc.Name] = sc.Description
		}
	}
	builtin.rec.UpdatedAt = builtin.rec.CreatedAt
	switch c.Registration {
	case "":
		c.Registration = RegistrationOpen
	case RegistrationOpen, RegistrationToken, RegistrationOff:
	default:
		return nil, fmt.Errorf("registration mode %q: use open, token or off", c.Registration)
	}
	s := &Server{
		registration: c.Registration,
		cimd:         c.CIMD,
		onEvent:      c.OnEvent,
		trace:        c.Trace,
		store:        c.Store,
		tmpl:         c.Templates,
		issuer:       c.Issuer,
		registry:     &registry{builtin: builtin},
		signingAlg:   c.SigningAlg,
		log:          c.Logger,
		now:          c.Now,
		sessionTTL:   c.SessionTTL,
		refreshGrace: c.RefreshReuseGrace,
		secure:       iss.Scheme == "https",
	}
	s.registry.set(nil)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.passwordSlots = make(chan struct{}, runtime.GOMAXPROCS(0))
	s.slots = make(chan struct{}, 2*runtime.GOMAXPROCS(0))
	s.dummyHash = sync.OnceValue(func() string {
		h, _ := HashPassword("not-a-real-password-" + randomToken(8))
		return h
	})
	s.limits = newLimits(c.RateLimits, s.now)
	if s.sessionTTL == 0 {
		s.sessionTTL = 12 * time.Hour
	}
	if s.refreshGrace < 0 {
		return nil, fmt.Errorf("authz: refresh reuse grace %s is negative", s.refreshGrace)
	}

	global, err := c.Store.EnsureSecret(ctx, hmacSecretName, randomBytes(32))
	if err != nil {
		return nil, fmt.Errorf("load token secret: %w", err)
	}
	if s.csrfKey, err = c.Store.EnsureSecret(ctx, "csrf-hmac", randomBytes(32)); err != nil {
		return nil, fmt.Errorf("load CSRF key: %w", err)
	}
	if s.hasher, err = NewSecretHasher(ctx, c.Store); err != nil {
		return nil, err
	}
	if s.keys, err = loadKeys(ctx, c.Store, s.now(), s.signingAlg); err != nil {
		return nil, err
	}
	if err := s.storeBuiltin(ctx); err != nil {
		return nil, fmt.Errorf("record the built-in resource: %w", err)
	}
	if err := s.ReloadResources(ctx); err != nil {
		return nil, err
	}

	s.cfg = &fosite.Config{
		AccessTokenLifespan:            orDefault(c.AccessTokenTTL, time.Hour),
		RefreshTokenLifespan:           orDefault(c.RefreshTokenTTL, 30*24*time.Hour),
		AuthorizeCodeLifespan:          orDefault(c.CodeTTL, 5*time.Minute),
		GlobalSecret:                   global,
		EnforcePKCE:                    true,
		EnablePKCEPlainChallengeMethod: false,
		AccessTokenIssuer:              c.Issuer,
		TokenURL:                       c.Issuer + "/token",
		JWTScopeClaimKey:               jwt.JWTScopeFieldString,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:       audienceMatch,
		RefreshTokenScopes:             []string{}, // a refresh token whenever the client has the refresh_token grant
		RedirectSecureChecker:          redirectSecure,
		ClientSecretsHasher:            s.hasher,
		SendDebugMessagesToClients:     false,
		// What the code's stored request keeps of the authorization
		// request: fosite's default (code, redirect_uri) and the PKCE
		// challenge, which fositeStore serves as the PKCE session.
		SanitationWhiteList: []string{"code", "redirect_uri", "code_challenge", "code_challenge_method"},
	}
	strategy := &oauth2.DefaultJWTStrategy{
		Signer:          &kidSigner{DefaultSigner: &jwt.DefaultSigner{GetPrivateKey: s.keys.signingKey}, keys: s.keys},
		HMACSHAStrategy: compose.NewOAuth2HMACStrategy(s.cfg),
		Config:          s.cfg,
	}
	s.fstore = &fositeStore{st: c.Store, srv: s}
	s.provider = compose.Compose(s.cfg, s.fstore, strategy,
		compose.OAuth2AuthorizeExplicitFactory, // must precede PKCE
		compose.OAuth2PKCEFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2TokenIntrospectionFactory, // stateful: revocation is seen at once
	)
	var ok bool
	if s.clientAuth, ok = s.provider.(clientAuthenticator); !ok {
		return nil, fmt.Errorf("fosite provider %T has no AuthenticateClient", s.provider)
	}
	return s, nil
}

// clientAuthenticator is the client authentication of *fosite.Fosite,
// which the OAuth2Provider interface does not name.
type clientAuthenticator interface {
	AuthenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error)
}

// Mount registers every route of the authorization server on mux.
func (s *Server) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.Handle("POST /authorize", s.browserForm(http.HandlerFunc(s.authorize)))
	mux.Handle("POST /login", s.browserForm(http.HandlerFunc(s.login)))
	mux.Handle("POST /logout", s.browserForm(http.HandlerFunc(s.logout)))
	mux.HandleFunc("GET /account", s.account)
	mux.Handle("POST /account/revoke", s.browserForm(http.HandlerFunc(s.revokeApp)))
	for path, allow := range map[string]string{"/authorize": "GET, POST", "/login": "POST", "/logout": "POST", "/account": "GET", "/account/revoke": "POST"} {
		mux.Handle(path, s.pageMethodNotAllowed(allow))
	}

	// The JSON and form APIs take no cookies, so any origin may call them
	// (browser-based MCP clients discover and register from their page).
	api := func(path string, methods map[string]http.HandlerFunc) {
		allow := "OPTIONS"
		for m, h := range methods {
			mux.Handle(m+" "+path, cors(h))
			allow += ", " + m
		}
		// Other methods: a CORS preflight for OPTIONS, else a JSON 405.
		mux.Handle(path, otherMethods(allow))
	}
	api("/token", map[string]http.HandlerFunc{"POST": s.token})
	api("/revoke", map[string]http.HandlerFunc{"POST": s.admit(s.revoke)})
	api("/introspect", map[string]http.HandlerFunc{"POST": s.admit(s.introspect)})
	api("/register", map[string]http.HandlerFunc{"POST": s.admit(s.register)})
	api("/register/{client_id}", map[string]http.HandlerFunc{
		"GET": s.readRegistration, "PUT": s.updateRegistration, "DELETE": s.deleteRegistration,
	})
	api("/jwks.json", map[string]http.HandlerFunc{"GET": s.jwks})
	api("/.well-known/oauth-authorization-server", map[string]http.HandlerFunc{"GET": s.metadata})
	api("/.well-known/openid-configuration", map[string]http.HandlerFunc{"GET": s.metadata})
	mux.Handle("GET "+web.StaticPrefix, web.StaticHandler())
	if s.trace != nil {
		s.mountTrace(mux)
	}
}

// otherMethods answers the methods a route does not serve: a CORS
// preflight for OPTIONS, else 405 with an RFC 6749-style JSON error.
func otherMethods(allow string) http.Handler {
	pre := preflight(allow)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			pre.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Allow", allow)
		w.Header().Set("Access-Control-Allow-Origin", "*")
		writeJSON(w, r, http.StatusMethodNotAllowed, "application/json", map[string]string{
			"error": "invalid_request", "error_description": "method " + r.Method + " is not allowed here; use " + allow,
		})
	})
}

// pageMethodNotAllowed answers a browser route's unsupported methods
// with an HTML page.
func (s *Server) pageMethodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		s.errorPage(w, r, http.StatusMethodNotAllowed, web.ErrorPage{
			Title: "Method not allowed", Message: "This page does not answer " + r.Method + " requests.", Code: "invalid_request",
		})
	})
}

// cors lets any origin read h's responses, including the challenge and
// Location headers.
func cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate, Location")
		h.ServeHTTP(w, r)
	})
}

// preflight answers a CORS preflight for a route with the given methods.
func preflight(methods string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", methods)
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, MCP-Protocol-Version")
		h.Set("Access-Control-Max-Age", "600")
		h.Set("Allow", methods)
		w.WriteHeader(http.StatusNoContent)
	})
}

// Issuer returns the issuer identifier.
func (s *Server) Issuer() string { return s.issuer }

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// redirectSecure allows https, http on loopback, and private-use schemes
// (RFC 8252 §7.1); registration already refused everything else.
func redirectSecure(_ context.Context, u *url.URL) bool {
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return isLoopbackHost(u.Hostname())
	}
	return strings.Contains(u.Scheme, ".")
}

// audienceMatch requires every needle to be one of the haystack resources
// exactly (after canonicalisation).
func audienceMatch(haystack []string, needles []string) error {
	for _, n := range needles {
		canon, err := canonicalResource(n)
		if err != nil || !slices.Contains(haystack, canon) {
			return fosite.ErrInvalidRequest.WithHintf("Requested audience %q is not allowed.", n)
		}
	}
	return nil
}
