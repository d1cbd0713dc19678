package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"
	fositestorage "github.com/ory/fosite/storage"

	"github.com/tenantless/tenantless/storage"
)

// fositeStore adapts storage.Store to the storage interfaces fosite's
// handlers type-assert at start-up. It keeps only signatures (HMACs of
// codes and refresh tokens, the signature segment of JWT access tokens),
// never a token itself.
type fositeStore struct {
	st  storage.Store
	srv *Server
}

var (
	_ fosite.Storage                = (*fositeStore)(nil)
	_ oauth2.CoreStorage            = (*fositeStore)(nil)
	_ oauth2.TokenRevocationStorage = (*fositeStore)(nil)
	_ pkce.PKCERequestStorage       = (*fositeStore)(nil)
	_ fositestorage.Transactional   = (*fositeStore)(nil)
)

// storedRequest is the persisted form of a fosite.Requester. The client is
// kept by ID and re-read on load, so a stored request always sees the
// client's current grant types (fosite decides on refresh tokens from them).
type storedRequest struct {
	ID                string             `json:"id"`
	RequestedAt       time.Time          `json:"requested_at"`
	ClientID          string             `json:"client_id"`
	RequestedScope    []string           `json:"requested_scope"`
	GrantedScope      []string           `json:"granted_scope"`
	RequestedAudience []string           `json:"requested_audience"`
	GrantedAudience   []string           `json:"granted_audience"`
	Form              url.Values         `json:"form"`
	Session           *oauth2.JWTSession `json:"session"`
}

func (f *fositeStore) BeginTX(ctx context.Context) (context.Context, error) {
	tx, err := f.st.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	return context.WithValue(tx, txGrantsKey{}, &txGrants{}), nil
}

// txGrantsKey is the context key of a transaction's txGrants.
type txGrantsKey struct{}

// txGrants lists the grants a transaction revokes or rotates. Their
// cached verifications are dropped when the change is made and again
// once it is committed: a verification that read the store between the
// two would otherwise cache a token the commit revoked.
type txGrants struct {
	mu  sync.Mutex
	ids []string
}

// dropGrant drops a grant's cached verifications now and, inside a
// transaction, again after its commit (see dropCommitted).
func (f *fositeStore) dropGrant(ctx context.Context, requestID string) {
	f.srv.verified.dropGrant(requestID)
	if g, ok := ctx.Value(txGrantsKey{}).(*txGrants); ok {
		g.mu.Lock()
		g.ids = append(g.ids, requestID)
		g.mu.Unlock()
	}
}

// dropCommitted drops, after a commit, the cached verifications of the
// grants the transaction in ctx changed.
func (f *fositeStore) dropCommitted(ctx context.Context) {
	if g, ok := ctx.Value(txGrantsKey{}).(*txGrants); ok {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, id := range g.ids {
			f.srv.verified.dropGrant(id)
		}
		g.ids = nil
	}
}

// Commit commits fosite's transaction. If the request carries a pending
// audit event (the token issuance's), the event is written in it first.
func (f *fositeStore) Commit(ctx context.Context) error {
	defer f.dropCommitted(ctx)
	p := pendingAuditFrom(ctx)
	if p == nil {
		return f.st.Commit(ctx)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.written {
		if err := f.st.AppendAudit(ctx, p.event); err != nil {
			_ = f.st.Rollback(ctx)
			return fmt.Errorf("append audit event: %w", err)
		}
	}
	if err := f.st.Commit(ctx); err != nil {
		return err
	}
	p.written = true
	return nil
}

func (f *fositeStore) Rollback(ctx context.Context) error { return f.st.Rollback(ctx) }

// GetClient loads a client by ID. It never reaches the network, so it is
// safe inside a transaction.
func (f *fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := f.srv.getClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return f.srv.fositeClient(ctx, c), nil
}

// ClientAssertionJWTValid is part of fosite.ClientManager; tenantless does
// not accept JWT client assertions, so no JTI is ever known.
func (f *fositeStore) ClientAssertionJWTValid(context.Context, string) error { return nil }

// SetClientAssertionJWT is part of fosite.ClientManager; see ClientAssertionJWTValid.
func (f *fositeStore) SetClientAssertionJWT(context.Context, string, time.Time) error { return nil }

func (f *fositeStore) create(ctx context.Context, kind storage.TokenKind, sig, accessSig string, r fosite.Requester, exp time.Time) error {
	sess, ok := r.GetSession().(*oauth2.JWTSession)
	if !ok {
		return fmt.Errorf("unexpected session type %T", r.GetSession())
	}
	data, err := json.Marshal(storedRequest{
		ID:                r.GetID(),
		RequestedAt:       r.GetRequestedAt(),
		ClientID:          r.GetClient().GetID(),
		RequestedScope:    r.GetRequestedScopes(),
		GrantedScope:      r.GetGrantedScopes(),
		RequestedAudience: r.GetRequestedAudience(),
		GrantedAudience:   r.GetGrantedAudience(),
		Form:              r.GetRequestForm(),
		Session:           sess,
	})
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	var res string
	if aud := r.GetGrantedAudience(); len(aud) > 0 {
		res = aud[0]
	} else if aud := r.GetRequestedAudience(); len(aud) > 0 {
		res = aud[0]
	}
	return f.st.CreateToken(ctx, storage.Token{
		Resource:        res,
		Kind:            kind,
		Signature:       sig,
		RequestID:       r.GetID(),
		ClientID:        r.GetClient().GetID(),
		Subject:         sess.GetSubject(),
		RequestedAt:     r.GetRequestedAt(),
		ExpiresAt:       exp,
		Active:          true,
		AccessSignature: accessSig,
		Data:            data,
	})
}

// load reads a token row and rebuilds its request. The returned error is
// nil, or the row's inactivity (inactive), or a lookup error.
func (f *fositeStore) load(ctx context.Context, kind storage.TokenKind, sig string, inactive error) (fosite.Requester, error) {
	req, t, err := f.loadRow(ctx, kind, sig)
	if err != nil {
		return nil, err
	}
	if !t.Active && inactive != nil {
		return req, inactive
	}
	return req, nil
}

// loadRow reads a token row and rebuilds its request, active or not.
func (f *fositeStore) loadRow(ctx context.Context, kind storage.TokenKind, sig string) (fosite.Requester, storage.Token, error) {
	t, err := f.st.GetToken(ctx, kind, sig)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, t, fosite.ErrNotFound
	}
	if err != nil {
		return nil, t, err
	}
	var sr storedRequest
	if err := json.Unmarshal(t.Data, &sr); err != nil {
		return nil, t, fmt.Errorf("decode stored request: %w", err)
	}
	c, err := f.GetClient(ctx, sr.ClientID)
	if err != nil {
		// The client was deleted: its grants are gone with it.
		return nil, t, fosite.ErrNotFound
	}
	if sr.Session == nil {
		sr.Session = &oauth2.JWTSession{}
	}
	req := &fosite.Request{
		ID:                sr.ID,
		RequestedAt:       sr.RequestedAt,
		Client:            c,
		RequestedScope:    sr.RequestedScope,
		GrantedScope:      sr.GrantedScope,
		RequestedAudience: sr.RequestedAudience,
		GrantedAudience:   sr.GrantedAudience,
		Form:              sr.Form,
		Session:           sr.Session,
	}
	if req.Form == nil {
		req.Form = url.Values{}
	}
	return req, t, nil
}

func expiry(r fosite.Requester, tt fosite.TokenType) time.Time {
	if s := r.GetSession(); s != nil {
		return s.GetExpiresAt(tt)
	}
	return time.Time{}
}

func (f *fositeStore) CreateAuthorizeCodeSession(ctx context.Context, sig string, r fosite.Requester) error {
	return f.create(ctx, storage.KindCode, sig, "", r, expiry(r, fosite.AuthorizeCode))
}

// GetAuthorizeCodeSession returns the request of a code; a used code comes
// back with fosite.ErrInvalidatedAuthorizeCode and its request, so that
// fosite revokes the tokens the code produced.
func (f *fositeStore) GetAuthorizeCodeSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	return f.load(ctx, storage.KindCode, sig, fosite.ErrInvalidatedAuthorizeCode)
}

// InvalidateAuthorizeCodeSession marks a code used, in fosite's token
// transaction. A code used concurrently reports errCodeUsed, which the
// token endpoint answers with invalid_grant.
func (f *fositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, sig string) error {
	err := f.st.DeactivateToken(ctx, storage.KindCode, sig)
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
		return errCodeUsed
	}
	return err
}

// errCodeUsed reports that an authorization code was used by a concurrent request.
var errCodeUsed = errors.New("authorization code already used")

// CreatePKCERequestSession stores nothing: fosite files the PKCE session
// under the code's signature, and the code's own row already holds the
// challenge (Config.SanitationWhiteList keeps code_challenge and
// code_challenge_method), so GetPKCERequestSession reads that row. One
// row fewer to write when a code is issued and to delete when it is used.
func (f *fositeStore) CreatePKCERequestSession(context.Context, string, fosite.Requester) error {
	return nil
}

// GetPKCERequestSession returns the code's request, which carries the
// challenge. A code issued by a version that stored the challenge in a
// row of its own (kind "pkce") has no challenge in its form: that row is
// read instead.
func (f *fositeStore) GetPKCERequestSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	r, err := f.load(ctx, storage.KindCode, sig, nil)
	if err == nil && r.GetRequestForm().Get("code_challenge") == "" {
		return f.load(ctx, storage.KindPKCE, sig, nil)
	}
	return r, err
}

// DeletePKCERequestSession does nothing: there is no PKCE row (see
// CreatePKCERequestSession), and fosite calls it before it compares the
// code_verifier, so a deletion here would burn the code on a wrong
// verifier. The used code is deactivated with its challenge.
func (f *fositeStore) DeletePKCERequestSession(context.Context, string) error { return nil }

func (f *fositeStore) CreateAccessTokenSession(ctx context.Context, sig string, r fosite.Requester) error {
	return f.create(ctx, storage.KindAccess, sig, "", r, expiry(r, fosite.AccessToken))
}

func (f *fositeStore) GetAccessTokenSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	r, err := f.load(ctx, storage.KindAccess, sig, fosite.ErrInactiveToken)
	return r, err
}

func (f *fositeStore) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	if t, err := f.st.GetToken(ctx, storage.KindAccess, sig); err == nil {
		f.dropGrant(ctx, t.RequestID)
	}
	err := f.st.DeleteToken(ctx, storage.KindAccess, sig)
	if errors.Is(err, storage.ErrNotFound) {
		return fosite.ErrNotFound
	}
	return err
}

func (f *fositeStore) CreateRefreshTokenSession(ctx context.Context, sig, accessSig string, r fosite.Requester) error {
	return f.create(ctx, storage.KindRefresh, sig, accessSig, r, expiry(r, fosite.RefreshToken))
}

// GetRefreshTokenSession returns the request of a refresh token; a rotated
// or revoked one comes back with fosite.ErrInactiveToken and its request,
// which makes fosite revoke the whole grant (reuse detection), unless it
// was rotated within the reuse grace period: then it is served like an
// active one, and RotateRefreshToken lets it through.
func (f *fositeStore) GetRefreshTokenSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	req, t, err := f.loadRow(ctx, storage.KindRefresh, sig)
	if err != nil {
		return nil, err
	}
	if !t.Active {
		ago, ok := f.srv.withinGrace(t)
		if !ok {
			if ri, _ := ctx.Value(refreshInfoKey{}).(*refreshInfo); ri != nil {
				ri.inactive, ri.rotated, ri.ago = true, !t.RotatedAt.IsZero(), ago
				if ri.rotated {
					ri.ago = f.srv.now().Sub(t.RotatedAt)
				}
			}
			return req, fosite.ErrInactiveToken
		}
	}
	return req, nil
}

// refreshInfoKey is the context key of a token request's refreshInfo.
type refreshInfoKey struct{}

// refreshInfo is what GetRefreshTokenSession learnt about an inactive
// refresh token, for the audit event of its refusal.
type refreshInfo struct {
	inactive bool
	// rotated is true when the token was rotated (ago before this use),
	// false when its grant had been revoked.
	rotated bool
	ago     time.Duration
}

// withinGrace reports whether refresh row t was retired by a rotation
// less than the reuse grace period ago, and how long ago. RotatedAt is
// kept to the second, so the period is counted from the start of the
// rotation's second. A rotation up to one period "in the future" counts
// as recent: another instance on the same database, its clock a little
// ahead, made it.
func (s *Server) withinGrace(t storage.Token) (time.Duration, bool) {
	if s.refreshGrace <= 0 || t.Active || t.RotatedAt.IsZero() {
		return 0, false
	}
	ago := s.now().Sub(t.RotatedAt)
	return ago, ago > -s.refreshGrace && ago < s.refreshGrace
}

// DeleteRefreshTokenSession deactivates rather than deletes, so that a
// token replayed again is still recognised as reuse until it expires.
func (f *fositeStore) DeleteRefreshTokenSession(ctx context.Context, sig string) error {
	err := f.st.DeactivateToken(ctx, storage.KindRefresh, sig)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return fosite.ErrNotFound
	case errors.Is(err, storage.ErrConflict):
		return nil
	}
	return err
}

// RotateRefreshToken retires the presented refresh token. The conditional
// update is keyed on the presented signature, so of concurrent refreshes
// with one token exactly one rotates it. The others, and any later use
// of it by its client within the reuse grace period, find it rotated
// moments ago: they go on to get a token pair of their own, revoking
// nothing, and the token request is audited as a reuse within grace.
// Without grace (or after it) they get fosite.ErrSerializationFailure.
func (f *fositeStore) RotateRefreshToken(ctx context.Context, requestID, sig string) error {
	f.dropGrant(ctx, requestID)
	err := f.st.RotateRefreshToken(ctx, requestID, sig, f.srv.now().UTC())
	switch {
	case errors.Is(err, storage.ErrConflict):
		// Read in the same transaction: a revocation committed since the
		// rotation has cleared RotatedAt.
		if t, gerr := f.st.GetToken(ctx, storage.KindRefresh, sig); gerr == nil && t.RequestID == requestID {
			if ago, ok := f.srv.withinGrace(t); ok {
				f.graceReuse(ctx, t, ago)
				return nil
			}
		}
		return fosite.ErrSerializationFailure
	case errors.Is(err, storage.ErrNotFound):
		return fosite.ErrNotFound
	}
	return err
}

// graceReuse turns the pending audit event of a token request that reused
// a refresh token within the grace period into AuditRefreshReuseGrace.
func (f *fositeStore) graceReuse(ctx context.Context, t storage.Token, ago time.Duration) {
	detail := fmt.Sprintf("a refresh token rotated %s ago was used again within the %s reuse grace period; a new token pair was issued and nothing was revoked",
		ago.Truncate(time.Second), f.srv.refreshGrace)
	if p := pendingAuditFrom(ctx); p != nil {
		p.mu.Lock()
		p.event.Type = AuditRefreshReuseGrace
		p.event.Detail = detail
		p.mu.Unlock()
	}
	f.srv.log.Info("refresh token reused within grace", "client_id", t.ClientID, "user_id", t.Subject,
		"rotated_ago", ago.Truncate(time.Second).String())
}

// RevokeRefreshToken deactivates every refresh token of a grant.
func (f *fositeStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	f.dropGrant(ctx, requestID)
	_, err := f.st.DeactivateGrant(ctx, storage.KindRefresh, requestID)
	return err
}

// RevokeAccessToken deletes every access token of a grant.
func (f *fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	f.dropGrant(ctx, requestID)
	_, err := f.st.DeleteGrant(ctx, storage.KindAccess, requestID)
	return err
}
