package authz

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/tenantless/tenantless/authz/trace"
	"github.com/tenantless/tenantless/storage"
)

// maxTokenBody bounds the body of the token, revocation and introspection
// endpoints.
const maxTokenBody = 64 << 10

// token serves the token endpoint (RFC 6749 §3.2) for the authorization
// code (with PKCE) and refresh token grants.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if ok, wait := s.limits.byAddress(s.limits.token, r); !ok {
		tooManyJSON(w, r, wait)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBody)
	if rfc := checkForm(r, "resource"); rfc != nil {
		writeOAuthError(w, r, rfc)
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case grantAuthorizationCode, grantRefreshToken:
	case "":
		writeOAuthError(w, r, fosite.ErrInvalidRequest.WithHint("The grant_type parameter is missing."))
		return
	default:
		writeOAuthError(w, r, fosite.ErrUnsupportedGrantType.WithHintf("Supported grant types: %s, %s.", grantAuthorizationCode, grantRefreshToken))
		return
	}
	if err := s.ensureCIMDClient(r, r.PostForm.Get("client_id"), cimdToken); err != nil {
		writeOAuthError(w, r, cimdTokenError(err))
		return
	}
	if !s.enter(r) {
		return
	}
	defer s.leave()
	ri := &refreshInfo{}
	ar, err := s.provider.NewAccessRequest(context.WithValue(ctx, refreshInfoKey{}, ri), r, &oauth2.JWTSession{})
	if err != nil {
		s.tokenError(w, r.WithContext(context.WithValue(ctx, refreshInfoKey{}, ri)), ar, err)
		return
	}
	// RFC 8707 §2.2: a resource at the token endpoint must be one the grant
	// covers; it cannot widen what /authorize granted.
	allowed := ar.GetGrantedAudience()
	if ar.GetGrantTypes().ExactOne(grantAuthorizationCode) {
		allowed = ar.GetRequestedAudience()
	}
	for _, res := range r.PostForm["resource"] {
		canon, err := canonicalResource(res)
		if err != nil || !slices.Contains(allowed, canon) {
			s.tokenError(w, r, ar, errInvalidTarget(res))
			return
		}
	}
	// A deleted resource gets no new token, by code or by refresh.
	for _, a := range allowed {
		if _, ok := s.registry.lookup(a); !ok {
			s.tokenError(w, r, ar, fosite.ErrInvalidGrant.WithHintf("The resource %s is no longer registered with this authorization server.", quoteShort(a)))
			return
		}
	}
	if ar.GetGrantTypes().ExactOne(grantRefreshToken) {
		// fosite#774: the refresh flow reuses the first token's iat and jti.
		if sess, ok := ar.GetSession().(*oauth2.JWTSession); ok && sess.JWTClaims != nil {
			sess.JWTClaims.IssuedAt = time.Time{}
			sess.JWTClaims.JTI = newJTI()
		}
	}
	clientID := ar.GetClient().GetID()
	typ := AuditTokenIssued
	if ar.GetGrantTypes().ExactOne(grantRefreshToken) {
		typ = AuditTokenRefreshed
	}
	pending := &pendingAudit{event: s.auditEvent(r, typ, ar.GetSession().GetSubject(), clientID, "success",
		strings.Join(ar.GetGrantedScopes(), " "))}
	resp, err := s.provider.NewAccessResponse(withPendingAudit(ctx, pending), ar)
	if err != nil {
		s.tokenError(w, r, ar, err)
		return
	}
	s.logger(r).Info("token issued", "client_id", clientID, "grant_type", strings.Join(ar.GetGrantTypes(), " "),
		"user_id", ar.GetSession().GetSubject())
	s.countEvent(pending.event)
	s.noteToken(r, ar, resp)
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
	// After the answer is written, so a client never waits on (or loses
	// its committed rotation to) this extra write; at most once a minute
	// per client.
	s.touchClient(r, clientID)
}

// touchClient records that a client obtained a token, at most once a
// minute per client.
func (s *Server) touchClient(r *http.Request, clientID string) {
	now := s.now()
	s.touchMu.Lock()
	last, ok := s.touched[clientID]
	if ok && now.Sub(last) < time.Minute {
		s.touchMu.Unlock()
		return
	}
	if s.touched == nil || len(s.touched) > 100000 {
		s.touched = map[string]time.Time{}
	}
	s.touched[clientID] = now
	s.touchMu.Unlock()
	if err := s.store.TouchClient(context.WithoutCancel(r.Context()), clientID, now.UTC().Truncate(time.Second)); err != nil {
		s.logger(r).Warn("record client use", "client_id", clientID, "err", err)
	}
}

// tokenError writes a token endpoint error. A code redeemed by a
// concurrent request is an invalid_grant, not a server error.
func (s *Server) tokenError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	if errors.Is(err, errCodeUsed) || errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		err = fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.")
	}
	if errors.Is(err, fosite.ErrInactiveToken) && ar != nil && ar.GetClient() != nil {
		typ, detail := s.reuseEvent(r)
		s.audit(r, typ, "", ar.GetClient().GetID(), "failure", detail)
	}
	if s.trace != nil {
		n := trace.Note{}
		if ar != nil && ar.GetClient() != nil {
			n.ClientID = ar.GetClient().GetID()
		}
		if errors.Is(err, fosite.ErrInactiveToken) {
			n.Cause = trace.CauseRefreshReuse
		}
		s.trace.Note(r, n)
	}
	if errors.Is(err, storage.ErrUnavailable) {
		s.logger(r).Warn("token request failed: database unavailable", "err", err)
		w.Header().Set("Retry-After", "1")
		writeOAuthError(w, r, errUnavailable)
		return
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.CodeField >= 500 {
		s.logger(r).Error("token request failed", "err", err)
	} else {
		s.logger(r).Info("token request refused", "error", rfc.ErrorField, "description", rfc.GetDescription())
	}
	s.provider.WriteAccessError(r.Context(), w, ar, err)
}

// reuseEvent is the audit type and detail of a refresh token refused as
// inactive: rotated before (and after the grace period, if there is one),
// which revoked its grant, or of a grant already revoked.
func (s *Server) reuseEvent(r *http.Request) (string, string) {
	ri, _ := r.Context().Value(refreshInfoKey{}).(*refreshInfo)
	switch {
	case ri == nil || !ri.inactive:
		return AuditRefreshReuse, "a rotated refresh token was used again; the grant was revoked"
	case !ri.rotated:
		return AuditRefreshRevokedUse, "a refresh token of a revoked grant was used; it stays revoked"
	case s.refreshGrace > 0:
		return AuditRefreshReuse, fmt.Sprintf("a refresh token rotated %s ago was used again, after the %s reuse grace period; the grant was revoked",
			ri.ago.Truncate(time.Second), s.refreshGrace)
	}
	return AuditRefreshReuse, "a rotated refresh token was used again (no reuse grace period); the grant was revoked"
}

// checkForm parses a form-encoded POST body and refuses the request
// shapes RFC 6749 forbids at these endpoints: another content type, an
// unreadable or oversized body, parameters in the URL, and parameters
// repeated (except those named in multi).
func checkForm(r *http.Request, multi ...string) *fosite.RFC6749Error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return fosite.ErrInvalidRequest.WithHint("The body must be application/x-www-form-urlencoded.")
	}
	if err := r.ParseForm(); err != nil {
		return fosite.ErrInvalidRequest.WithHintf("The form body is unreadable or larger than %d KiB.", maxTokenBody>>10)
	}
	if len(r.URL.Query()) > 0 {
		return fosite.ErrInvalidRequest.WithHint("Send the parameters in the form body, not in the URL.")
	}
	if dup := duplicated(r.PostForm, multi...); dup != "" {
		return fosite.ErrInvalidRequest.WithHintf("The parameter %s appears more than once.", dup)
	}
	return nil
}

// revoke serves RFC 7009 token revocation. Revoking either token of a
// grant revokes the whole grant.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBody)
	if rfc := checkForm(r); rfc != nil {
		s.provider.WriteRevocationResponse(ctx, w, rfc)
		return
	}
	// fosite revokes the refresh and the access tokens in two writes; one
	// transaction makes the revocation all or nothing.
	// (Through fositeStore, whose Commit also drops the revoked grants'
	// cached verifications once the revocation is committed.)
	tx, err := s.fstore.BeginTX(ctx)
	if err != nil {
		s.jsonServerError(w, r, "begin revocation", err)
		return
	}
	err = s.provider.NewRevocationRequest(tx, r)
	if err != nil {
		_ = s.fstore.Rollback(tx)
	} else if cerr := s.fstore.Commit(tx); cerr != nil {
		s.jsonServerError(w, r, "commit revocation", cerr)
		return
	}
	if err != nil {
		s.logger(r).Info("revocation refused", "error", fosite.ErrorToRFC6749Error(err).ErrorField)
	} else {
		s.logger(r).Info("token revoked")
		s.audit(r, AuditTokenRevoked, "", r.PostForm.Get("client_id"), "success", "")
	}
	s.provider.WriteRevocationResponse(ctx, w, err)
}

// introspect serves RFC 7662 introspection. Only confidential clients,
// authenticated with HTTP Basic, may introspect; fosite's alternative of
// authenticating with any access token is refused, so that no bearer of
// a token can probe other tokens. An access token is checked like a
// bearer at /mcp (VerifyAccessToken): a token verified before is answered
// from memory, and revocation in this process drops it at once.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBody)
	if _, _, ok := r.BasicAuth(); !ok {
		writeOAuthError(w, r, fosite.ErrInvalidClient.WithHint("Introspection requires client authentication with HTTP Basic."))
		return
	}
	if rfc := checkForm(r); rfc != nil {
		writeOAuthError(w, r, rfc)
		return
	}
	if !s.introspectorAuthenticated(r) {
		// RFC 7662 §2.3: the client is told its credentials failed.
		writeOAuthError(w, r, fosite.ErrInvalidClient.WithHint("Client authentication failed."))
		return
	}
	token, hint := r.PostForm.Get("token"), r.PostForm.Get("token_type_hint")
	if token == "" {
		writeOAuthError(w, r, fosite.ErrInvalidRequest.WithHint("The token parameter is missing."))
		return
	}
	inactive := &fosite.IntrospectionResponse{Active: false}
	if hint == "" || hint == string(fosite.AccessToken) {
		if _, ar, err := s.verifyAccessToken(ctx, token); err == nil {
			if !grantedAll(ar, r.PostForm.Get("scope")) {
				s.trace.Note(r, trace.Note{Cause: trace.CauseInvalidToken, Token: trace.Fingerprint(token)})
				s.provider.WriteIntrospectionResponse(ctx, w, inactive)
				return
			}
			s.provider.WriteIntrospectionResponse(ctx, w, &fosite.IntrospectionResponse{
				Active: true, AccessRequester: ar, TokenUse: fosite.AccessToken, AccessTokenType: fosite.BearerAccessToken,
			})
			return
		}
	}
	// A refresh token (or a hint fosite tries the other way round).
	use, ar, err := s.provider.IntrospectToken(ctx, token, fosite.TokenUse(hint), &oauth2.JWTSession{},
		strings.Fields(r.PostForm.Get("scope"))...)
	if err != nil {
		s.trace.Note(r, trace.Note{Cause: trace.CauseInvalidToken, Token: trace.Fingerprint(token)})
		s.provider.WriteIntrospectionResponse(ctx, w, inactive)
		return
	}
	resp := &fosite.IntrospectionResponse{Active: true, AccessRequester: ar, TokenUse: use}
	if use == fosite.AccessToken {
		resp.AccessTokenType = fosite.BearerAccessToken
	}
	s.provider.WriteIntrospectionResponse(ctx, w, resp)
}

// introspectorAuthenticated authenticates the client of r as the token
// endpoint does (fosite: HTTP Basic with form-encoded credentials, RFC
// 6749 §2.3.1, against the client's registered method and secret hash)
// and accepts only a confidential one.
func (s *Server) introspectorAuthenticated(r *http.Request) bool {
	c, err := s.clientAuth.AuthenticateClient(r.Context(), r, r.PostForm)
	return err == nil && !c.IsPublic()
}

// grantedAll reports whether a token was granted every scope in the
// space-separated list (the optional scope parameter of introspection).
func grantedAll(ar fosite.Requester, scopes string) bool {
	for _, sc := range strings.Fields(scopes) {
		if !slices.Contains(ar.GetGrantedScopes(), sc) {
			return false
		}
	}
	return true
}
