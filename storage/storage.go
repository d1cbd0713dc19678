package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors every backend returns, checked with errors.Is.
var (
	// ErrNotFound means the record does not exist (or, for conditional
	// updates, no row was in the state the update required).
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict means a unique key is already taken, or a conditional
	// update lost a race (for example a second rotation of one refresh token).
	ErrConflict = errors.New("storage: conflict")
	// ErrUnavailable means the database could not be reached or refused
	// the work for a reason that passes (it is down, restarting, out of
	// connections, or locked by another process for too long). Nothing was
	// changed; the same call may succeed later. HTTP answers it with 503.
	ErrUnavailable = errors.New("storage: database unavailable")
)

// Client is a registered OAuth client (RFC 7591 §2 metadata plus our bookkeeping).
type Client struct {
	// ID is the client_id. Generated IDs never start with "https://";
	// metadata-document clients use their document URL.
	ID string
	// SecretHash is the keyed hash of the client secret; nil for public clients.
	SecretHash []byte
	// Name is the human-readable client_name shown on the consent page.
	Name string
	// RedirectURIs are the registered redirect URIs, in registration order.
	RedirectURIs []string
	// GrantTypes are the OAuth grant types the client may use.
	GrantTypes []string
	// ResponseTypes are the OAuth response types the client may use.
	ResponseTypes []string
	// Scopes is the scope value the client registered (informational).
	Scopes []string
	// TokenEndpointAuthMethod is "none", "client_secret_basic" or "client_secret_post".
	TokenEndpointAuthMethod string
	// Source tells where the client came from: SourceStatic, SourceDCR or SourceCIMD.
	Source string
	// Metadata is the full registered metadata as a JSON object, echoed back
	// to the client on RFC 7591/7592 reads. May be nil.
	Metadata []byte
	// RegistrationTokenHash is the hash of the RFC 7592 registration access
	// token; nil when the client has none.
	RegistrationTokenHash []byte
	// CreatedAt is when the client was registered.
	CreatedAt time.Time
	// UpdatedAt is when the client record last changed.
	UpdatedAt time.Time
	// ExpiresAt is when a cached record stops being valid (metadata-document
	// clients); the zero value means never.
	ExpiresAt time.Time
	// LastUsedAt is when the client last obtained a token; zero if never.
	LastUsedAt time.Time
}

// Client sources.
const (
	SourceStatic = "static" // added by an operator with the CLI
	SourceDCR    = "dcr"    // RFC 7591 dynamic registration
	SourceCIMD   = "cimd"   // client ID metadata document
)

// User is a person who can sign in.
type User struct {
	// ID is a stable random identifier; it is the token subject ("sub").
	ID string
	// Username is the unique sign-in name.
	Username string
	// PasswordHash is an encoded adaptive hash (for example argon2id in PHC form).
	PasswordHash string
	// Admin users may open the live auth trace and inject faults.
	Admin bool
	// CreatedAt is when the user was created.
	CreatedAt time.Time
	// UpdatedAt is when the user record last changed.
	UpdatedAt time.Time
}

// Consent records that a user allowed a client the given scopes for the
// given resources. There is at most one consent per (UserID, ClientID).
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	Resources []string
	// CreatedAt is when consent was first given; kept across updates.
	CreatedAt time.Time
	// UpdatedAt is when the consent last changed.
	UpdatedAt time.Time
}

// Session is a browser sign-in session. The cookie value is never stored:
// IDHash is its SHA-256.
type Session struct {
	IDHash    []byte
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TokenKind distinguishes the OAuth artefacts kept in the token table.
type TokenKind string

// Token kinds.
const (
	KindCode    TokenKind = "code"    // authorization code
	KindPKCE    TokenKind = "pkce"    // PKCE challenge keyed by the code's signature
	KindAccess  TokenKind = "access"  // access token
	KindRefresh TokenKind = "refresh" // refresh token
)

// Token is one stored OAuth artefact. Only the signature (an HMAC or the
// JWT signature segment) is stored, never the token itself.
type Token struct {
	Kind      TokenKind
	Signature string
	// RequestID identifies the grant; it is shared by the code, the PKCE
	// row and every access and refresh token of one authorization.
	RequestID string
	ClientID  string
	// Subject is the user ID the grant was made for.
	Subject     string
	RequestedAt time.Time
	// ExpiresAt is when the row may be garbage collected; zero means never.
	ExpiresAt time.Time
	// Active is false once a code is used or a refresh token rotated or revoked.
	Active bool
	// AccessSignature links a refresh token to the access token issued with it.
	AccessSignature string
	// RotatedAt is when RotateRefreshToken retired this refresh token, to
	// the second; zero while it is active, and for a row that was never
	// rotated or whose grant was revoked (DeactivateGrant clears it). The
	// refresh reuse grace period is counted from it.
	RotatedAt time.Time
	// Resource is the RFC 8707 resource (the token's audience) the grant is
	// for; empty when it is not known (rows written before resources were
	// registered). RevokeResourceGrants selects by it.
	Resource string
	// Data is an opaque serialised request owned by the caller.
	Data []byte
}

// SigningKey is a private key that signs access tokens.
type SigningKey struct {
	// ID is the JWK "kid".
	ID string
	// Algorithm is the JWS algorithm, for example "ES256".
	Algorithm string
	// PrivateKey is the PKCS#8 DER encoding of the private key.
	PrivateKey []byte
	CreatedAt  time.Time
	// RetiredAt is when the key stopped signing; zero while it is current.
	RetiredAt time.Time
}

// Resource is a protected resource (an MCP server) that access tokens may
// be issued for: an RFC 8707 resource indicator, which becomes the token's
// "aud", with the scopes such tokens may carry.
type Resource struct {
	// URL is the resource indicator: an absolute URI without a fragment,
	// scheme and host in lower case. It is the key.
	URL string
	// Aliases are more URLs of the same server (for example its 127.0.0.1
	// spelling); a token asked for an alias is issued for that alias.
	Aliases []string
	// Name is a short human-readable name shown on the consent page.
	Name string
	// Description says what the server is, for a person.
	Description string
	// Scopes are the scopes tokens for this resource may carry. A scope
	// belongs to one resource only.
	Scopes []string
	// ScopeDescriptions tell a person on the consent page what each scope
	// allows, by scope; scopes without one have no entry. May be nil.
	ScopeDescriptions map[string]string
	// Source tells where the record came from: ResourceSourceCLI or
	// ResourceSourceBuiltin.
	Source string
	// CreatedAt is when the resource was registered; kept by PutResource.
	CreatedAt time.Time
	// UpdatedAt is when the record last changed.
	UpdatedAt time.Time
}

// Resource sources.
const (
	ResourceSourceCLI     = "cli"     // added by an operator with "tenantless resource add"
	ResourceSourceBuiltin = "builtin" // the MCP server (or gateway) tenantless serves itself
)

// InitialAccessToken authorises dynamic client registration when
// registration is restricted (RFC 7591 §3). Only its hash is stored.
type InitialAccessToken struct {
	// Hash is the SHA-256 of the token.
	Hash []byte
	// Note says what the operator created it for.
	Note      string
	CreatedAt time.Time
	// ExpiresAt is when it stops working; zero means never.
	ExpiresAt time.Time
}

// AuditEvent is one entry of the audit log. It never holds a secret.
type AuditEvent struct {
	// ID is assigned by the store, increasing with every append.
	ID int64
	// Time is when it happened.
	Time time.Time
	// Type names the event, e.g. "login" or "token.refreshed".
	Type string
	// UserID is the user concerned, if any.
	UserID string
	// ClientID is the client concerned, if any.
	ClientID string
	// Address is the client's network address, if known.
	Address string
	// Outcome is "success" or "failure".
	Outcome string
	// Detail is a short human-readable remark.
	Detail string
	// Actor is who made the change: ActorServer or ActorCLI.
	Actor string
}

// Audit event actors.
const (
	// ActorServer is the running server, acting on a request of the user or
	// client the event names, or on its own (sweeps, key rotation).
	ActorServer = "server"
	// ActorCLI is an administrator's tenantless command.
	ActorCLI = "cli"
)

// AuditFilter selects audit events; zero fields select everything.
type AuditFilter struct {
	// Since keeps events at or after this time.
	Since time.Time
	// UserID keeps events of this user.
	UserID string
	// ClientID keeps events of this client.
	ClientID string
	// Type keeps events of this type.
	Type string
	// Actor keeps events of this actor (ActorServer or ActorCLI).
	Actor string
	// Limit caps the number returned (newest first); zero means 1000.
	Limit int
}

// GCResult counts the rows removed by a garbage collection.
type GCResult struct {
	Tokens              int64
	Sessions            int64
	Clients             int64
	InitialAccessTokens int64
}

// Store is the persistence every part of tenantless uses. Implementations
// must be safe for concurrent use.
//
// Transactions are carried in the context: BeginTx returns a context that
// every other method called with it (reads included) runs inside, until
// Commit or Rollback is called with that same context. Calls with a context
// that carries no transaction run on their own.
type Store interface {
	// BeginTx starts a write transaction and returns a context carrying it.
	BeginTx(ctx context.Context) (context.Context, error)
	// Commit commits the transaction carried by ctx.
	Commit(ctx context.Context) error
	// Rollback abandons the transaction carried by ctx; it is a no-op if the
	// transaction already ended.
	Rollback(ctx context.Context) error

	// CreateClient stores a new client; ErrConflict if the ID is taken.
	CreateClient(ctx context.Context, c Client) error
	// GetClient returns a client by ID, or ErrNotFound.
	GetClient(ctx context.Context, id string) (Client, error)
	// UpdateClient replaces every field of an existing client but ID and
	// CreatedAt; ErrNotFound if it does not exist.
	UpdateClient(ctx context.Context, c Client) error
	// ListClients returns all clients ordered by creation time, then ID.
	ListClients(ctx context.Context) ([]Client, error)
	// DeleteClient removes a client with its consents and tokens; ErrNotFound
	// if it does not exist.
	DeleteClient(ctx context.Context, id string) error
	// TouchClient sets LastUsedAt; ErrNotFound if the client does not exist.
	TouchClient(ctx context.Context, id string, at time.Time) error

	// CreateUser stores a new user; ErrConflict if the ID or username is taken.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns a user by ID, or ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByUsername returns a user by username, or ErrNotFound.
	GetUserByUsername(ctx context.Context, username string) (User, error)
	// ListUsers returns all users ordered by username.
	ListUsers(ctx context.Context) ([]User, error)
	// CountUsers returns the number of users.
	CountUsers(ctx context.Context) (int, error)
	// SetUserPassword replaces a user's password hash; ErrNotFound if the
	// user does not exist.
	SetUserPassword(ctx context.Context, id, passwordHash string, at time.Time) error
	// DeleteUser removes a user with their sessions, consents and tokens;
	// ErrNotFound if the user does not exist.
	DeleteUser(ctx context.Context, id string) error

	// PutConsent creates or replaces the consent of (UserID, ClientID),
	// keeping the original CreatedAt when it replaces one.
	PutConsent(ctx context.Context, c Consent) error
	// GetConsent returns the consent of a user for a client, or ErrNotFound.
	GetConsent(ctx context.Context, userID, clientID string) (Consent, error)
	// ListConsents returns the consents of a user ordered by client ID.
	ListConsents(ctx context.Context, userID string) ([]Consent, error)
	// DeleteConsent removes a consent; ErrNotFound if there is none.
	DeleteConsent(ctx context.Context, userID, clientID string) error

	// CreateSession stores a sign-in session; ErrConflict if IDHash is taken.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns a session by IDHash, or ErrNotFound. It does not
	// check expiry; callers compare ExpiresAt with their clock.
	GetSession(ctx context.Context, idHash []byte) (Session, error)
	// DeleteSession removes a session; ErrNotFound if there is none.
	DeleteSession(ctx context.Context, idHash []byte) error

	// CreateToken stores a token row; ErrConflict if (Kind, Signature) is taken.
	CreateToken(ctx context.Context, t Token) error
	// GetToken returns a token row, active or not, or ErrNotFound.
	GetToken(ctx context.Context, kind TokenKind, signature string) (Token, error)
	// DeleteToken removes one token row; ErrNotFound if there is none.
	DeleteToken(ctx context.Context, kind TokenKind, signature string) error
	// DeactivateToken marks one active row inactive. It is the atomic
	// one-time-use check: ErrNotFound if the row does not exist, ErrConflict
	// if it was already inactive. Of concurrent calls for one row exactly one
	// succeeds.
	DeactivateToken(ctx context.Context, kind TokenKind, signature string) error
	// DeactivateGrant marks every row of the given kind and request ID
	// inactive and not rotated (RotatedAt zero: a revoked refresh token
	// gets no reuse grace) and returns how many active rows it
	// deactivated.
	DeactivateGrant(ctx context.Context, kind TokenKind, requestID string) (int64, error)
	// DeleteGrant removes every row of the given kind and request ID and
	// returns how many were removed.
	DeleteGrant(ctx context.Context, kind TokenKind, requestID string) (int64, error)
	// RotateRefreshToken retires the presented refresh token of a grant at
	// time at: it deactivates the refresh row of requestID with that
	// signature and sets its RotatedAt to at (ErrNotFound if there is no
	// such row, ErrConflict if it was no longer active, so of concurrent
	// rotations exactly one wins), then deletes the access token issued
	// with it (its AccessSignature; every access token of the grant when
	// it names none). The grant's other refresh tokens stay as they are:
	// those issued within a reuse grace period are live chains of their
	// own.
	RotateRefreshToken(ctx context.Context, requestID, signature string, at time.Time) error
	// RevokeResourceGrants ends every grant of a resource: it deletes the
	// access tokens and authorization codes whose Resource is resource and
	// deactivates its refresh tokens. It returns the distinct request IDs
	// of the grants it changed, sorted; rows already inactive are left as
	// they are and not counted.
	RevokeResourceGrants(ctx context.Context, resource string) ([]string, error)
	// ListGrantTokens returns the active access and refresh rows of a user,
	// optionally of one client (empty clientID means all), newest first.
	ListGrantTokens(ctx context.Context, userID, clientID string) ([]Token, error)

	// DeleteUnusedClients removes clients of the given source, with their
	// consents and tokens, that hold no live grant and have no sign-in in
	// progress (no active access token, refresh token or authorization code
	// that is unexpired at now) and that either were never
	// used (LastUsedAt zero) and created before neverUsedBefore, or were
	// last used before lastUsedBefore. It returns the IDs removed.
	DeleteUnusedClients(ctx context.Context, source string, neverUsedBefore, lastUsedBefore, now time.Time) ([]string, error)

	// CreateResource stores a new resource; ErrConflict if its URL is taken.
	CreateResource(ctx context.Context, r Resource) error
	// PutResource creates or replaces the resource with r's URL, keeping
	// the original CreatedAt when it replaces one.
	PutResource(ctx context.Context, r Resource) error
	// GetResource returns a resource by URL, or ErrNotFound.
	GetResource(ctx context.Context, url string) (Resource, error)
	// ListResources returns every resource ordered by creation time, then URL.
	ListResources(ctx context.Context) ([]Resource, error)
	// DeleteResource removes a resource; ErrNotFound if it does not exist.
	// Its tokens are left alone (see RevokeResourceGrants).
	DeleteResource(ctx context.Context, url string) error

	// CreateInitialAccessToken stores a token; ErrConflict if Hash is taken.
	CreateInitialAccessToken(ctx context.Context, t InitialAccessToken) error
	// GetInitialAccessToken returns a token by hash, or ErrNotFound. It does
	// not check expiry.
	GetInitialAccessToken(ctx context.Context, hash []byte) (InitialAccessToken, error)
	// ListInitialAccessTokens returns every token, newest first.
	ListInitialAccessTokens(ctx context.Context) ([]InitialAccessToken, error)
	// DeleteInitialAccessToken removes a token; ErrNotFound if there is none.
	DeleteInitialAccessToken(ctx context.Context, hash []byte) error

	// AppendAudit adds an event to the audit log; the store assigns ID
	// (the passed ID is ignored).
	AppendAudit(ctx context.Context, e AuditEvent) error
	// ListAudit returns the events matching f, newest first (by Time, then ID).
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	// PruneAudit deletes events older than before and returns how many.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)

	// CreateSigningKey stores a new signing key; ErrConflict if the ID is taken.
	CreateSigningKey(ctx context.Context, k SigningKey) error
	// ListSigningKeys returns every signing key, newest first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// RetireSigningKey sets RetiredAt on a key; ErrNotFound if it does not exist.
	RetireSigningKey(ctx context.Context, id string, at time.Time) error
	// DeleteSigningKey removes a key; ErrNotFound if it does not exist.
	DeleteSigningKey(ctx context.Context, id string) error

	// EnsureSecret returns the secret stored under name, storing value first
	// if there is none. Concurrent callers all get the same stored value.
	EnsureSecret(ctx context.Context, name string, value []byte) ([]byte, error)

	// TakeAttempt is a token bucket that every process on the store
	// shares (the per-account sign-in failure limit): the bucket named key
	// holds at most burst attempts and regains one every every, and a
	// bucket never used is full. With take it spends one attempt if there
	// is one; without, it only looks. It reports whether an attempt was
	// there and, if not, how long until there is one. Of concurrent takes
	// from a bucket holding n attempts, exactly n succeed.
	TakeAttempt(ctx context.Context, key string, every time.Duration, burst int, take bool, now time.Time) (ok bool, wait time.Duration, err error)

	// GarbageCollect removes token rows, sessions and initial access tokens
	// whose ExpiresAt is before now, attempt buckets that are full again at
	// now (uncounted), and clients of source SourceCIMD whose ExpiresAt is
	// before now and that hold no tokens and no consent (the consent
	// belongs to the client_id, not to the cached document). Rows with a
	// zero ExpiresAt never expire.
	GarbageCollect(ctx context.Context, now time.Time) (GCResult, error)

	// Ping checks that the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// NextAttempt is the bucket arithmetic of TakeAttempt, as the generic cell
// rate algorithm: a bucket is the time at which it will be full again
// (tat; the zero time or any time not after now is full). It returns the
// bucket after taking an attempt at now, whether one was there, and if not
// how long until one is; backends store the new tat only when ok and
// taking.
func NextAttempt(tat time.Time, every time.Duration, burst int, now time.Time) (next time.Time, ok bool, wait time.Duration) {
	if tat.Before(now) {
		tat = now
	}
	next = tat.Add(every)
	if over := next.Sub(now) - every*time.Duration(burst); over > 0 {
		return tat, false, over
	}
	return next, true, 0
}
