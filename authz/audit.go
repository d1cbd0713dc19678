package authz

import (
	"context"
	"net"
	"net/http"

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
)

// audit appends an event to the audit log. A failure is logged, never
// returned: the audit log must not take the server down.
func (s *Server) audit(r *http.Request, typ, userID, clientID, outcome, detail string) {
	e := storage.AuditEvent{
		Time: s.now().UTC(), Type: typ, UserID: userID, ClientID: clientID, Outcome: outcome, Detail: detail,
	}
	ctx := context.Background()
	if r != nil {
		ctx = context.WithoutCancel(r.Context())
		e.Address = clientAddress(r)
	}
	if s.onEvent != nil {
		s.onEvent(typ, outcome)
	}
	if err := s.store.AppendAudit(ctx, e); err != nil {
		s.logger(r).Error("append audit event", "type", typ, "err", err)
	}
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
