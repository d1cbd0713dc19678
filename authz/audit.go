package authz

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/tenantless/tenantless/storage"
)

// Audit event types.
const (
	AuditClientRegistered = "client.registered" // DCR, metadata document, or CLI
	AuditClientSwept      = "client.swept"
	AuditLogin            = "login"
	AuditConsentGranted   = "consent.granted"
	AuditConsentDenied    = "consent.denied"
	AuditConsentRevoked   = "consent.revoked"
	AuditCodeIssued       = "code.issued"
	AuditTokenIssued      = "token.issued"
	AuditTokenRefreshed   = "token.refreshed"
	AuditTokenRevoked     = "token.revoked"
	AuditRefreshReuse     = "refresh.reuse_detected"
	// AuditRefreshReuseGrace is a refresh token used again within the
	// reuse grace period: answered with a new pair, nothing revoked.
	AuditRefreshReuseGrace = "refresh.reuse_within_grace"
	// AuditRefreshRevokedUse is a refresh token of an already revoked
	// grant presented again: refused, nothing more to revoke.
	AuditRefreshRevokedUse = "refresh.revoked_token_used"

	// Changes an administrator makes with the CLI (actor "cli"); key
	// rotation is also the server's own (actor "server").
	AuditClientDeleted       = "client.deleted"
	AuditUserCreated         = "user.created"
	AuditUserPasswordChanged = "user.password_changed"
	AuditUserDeleted         = "user.deleted"
	AuditKeyRotated          = "key.rotated"
	AuditInitialTokenCreated = "initial_token.created"
	AuditInitialTokenDeleted = "initial_token.deleted"

	// AuditFaultInjected is a fault injected from the auth trace (the
	// page or "tenantless fault").
	AuditFaultInjected = "fault.injected"
	// AuditToolCalled is a tools/call the gateway passed to the MCP server
	// it protects; Detail names the tool, its outcome and latency.
	AuditToolCalled = "tool.called"
)

// AuditTypes lists every audit event type, for validating a filter.
func AuditTypes() []string {
	return []string{
		AuditClientRegistered, AuditClientSwept, AuditClientDeleted, AuditLogin,
		AuditConsentGranted, AuditConsentDenied, AuditConsentRevoked,
		AuditCodeIssued, AuditTokenIssued, AuditTokenRefreshed, AuditTokenRevoked, AuditRefreshReuse,
		AuditRefreshReuseGrace, AuditRefreshRevokedUse,
		AuditUserCreated, AuditUserPasswordChanged, AuditUserDeleted,
		AuditKeyRotated, AuditInitialTokenCreated, AuditInitialTokenDeleted,
		AuditResourceAdded, AuditResourceDeleted, AuditFaultInjected, AuditToolCalled,
	}
}

// audit appends an event to the audit log. A failure is logged, never
// returned: the audit log must not take the server down.
func (s *Server) audit(r *http.Request, typ, userID, clientID, outcome, detail string) {
	e := s.auditEvent(r, typ, userID, clientID, outcome, detail)
	ctx := context.Background()
	if r != nil {
		ctx = context.WithoutCancel(r.Context())
	}
	s.countEvent(e)
	if err := s.store.AppendAudit(ctx, e); err != nil {
		s.logger(r).Error("append audit event", "type", typ, "err", err)
	}
}

// withAudit runs fn in a transaction and appends e in the same
// transaction: one write, and the change is stored with its event or not
// at all. fn must call the store with the context it is given.
func (s *Server) withAudit(ctx context.Context, e storage.AuditEvent, fn func(tx context.Context) error) error {
	tx, err := s.store.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = s.store.Rollback(tx) }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := s.store.AppendAudit(tx, e); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	if err := s.store.Commit(tx); err != nil {
		return err
	}
	s.countEvent(e)
	return nil
}

// auditEvent builds an audit event of the request r (which may be nil).
func (s *Server) auditEvent(r *http.Request, typ, userID, clientID, outcome, detail string) storage.AuditEvent {
	e := storage.AuditEvent{
		Time: s.now().UTC(), Type: typ, UserID: userID, ClientID: clientID, Outcome: outcome, Detail: detail,
		Actor: storage.ActorServer,
	}
	if r != nil {
		e.Address = clientAddress(r)
	}
	return e
}

// countEvent reports an event to the OnEvent hook (metrics).
func (s *Server) countEvent(e storage.AuditEvent) {
	if s.onEvent != nil {
		s.onEvent(e.Type, e.Outcome)
	}
}

// pendingAuditKey is the context key of a token request's pendingAudit.
type pendingAuditKey struct{}

// pendingAudit is the audit event of a token request, written inside
// fosite's token transaction (see fositeStore.Commit) so that tokens and
// their audit row are committed together, in one write: a token is never
// issued without its event, nor an event recorded for tokens that were
// rolled back. It rides on the context of NewAccessResponse only, where
// the one transaction fosite commits is the one that issues the tokens.
type pendingAudit struct {
	mu      sync.Mutex
	event   storage.AuditEvent
	written bool
}

func withPendingAudit(ctx context.Context, p *pendingAudit) context.Context {
	return context.WithValue(ctx, pendingAuditKey{}, p)
}

func pendingAuditFrom(ctx context.Context) *pendingAudit {
	p, _ := ctx.Value(pendingAuditKey{}).(*pendingAudit)
	return p
}

// clientAddress is the request's remote IP.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// RevokeGrant revokes every token of one grant (request ID): its refresh
// tokens and unused code are deactivated and its access tokens deleted.
func RevokeGrant(ctx context.Context, st storage.Store, requestID string) error {
	return revokeGrant(ctx, st, requestID)
}

func revokeGrant(ctx context.Context, st storage.Store, requestID string) error {
	for _, k := range []storage.TokenKind{storage.KindRefresh, storage.KindCode} {
		if _, err := st.DeactivateGrant(ctx, k, requestID); err != nil {
			return err
		}
	}
	_, err := st.DeleteGrant(ctx, storage.KindAccess, requestID)
	return err
}
