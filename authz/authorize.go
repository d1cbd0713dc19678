package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"

	"github.com/tenantless/tenantless/authz/trace"
	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/web"
)

// authorize serves the authorization endpoint (RFC 6749 §3.1). GET shows
// sign-in or consent (or, with a remembered consent, answers at once);
// POST carries the consent decision with the original parameters.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		s.badForm(w, r)
		return
	}
	params := authorizeParams(r)
	dup := duplicated(r.Form, "resource", "granted_scope")
	if dup == "client_id" || dup == "redirect_uri" {
		// Which client or redirect URI is meant is unclear: never redirect.
		s.errorPage(w, r, http.StatusBadRequest, web.ErrorPage{
			Title: "Bad request", Message: "The parameter " + dup + " appears more than once.", Code: "invalid_request",
		})
		return
	}

	// RFC 8707: resource becomes fosite's audience before fosite parses.
	aud, res, resourceErr := s.resolveResource(r.Form["resource"])
	delete(r.Form, "audience")
	if resourceErr == nil {
		r.Form["audience"] = []string{aud}
	} else {
		// The resource error is the one to report, not fosite's verdict on
		// the scopes of a resource that does not exist.
		res = s.registry.builtin
		r.Form.Del("scope")
	}
	// No scope means every scope of the resource.
	if strings.TrimSpace(r.Form.Get("scope")) == "" {
		r.Form.Set("scope", strings.Join(res.rec.Scopes, " "))
	}

	use := cimdNewRequest
	if r.Method == http.MethodPost {
		use = cimdContinue
	}
	if err := s.ensureCIMDClient(r, r.Form.Get("client_id"), use); err != nil {
		s.cimdErrorPage(w, r, err)
		return
	}
	if use == cimdNewRequest {
		if err := s.refreshCIMDRedirect(r, r.Form.Get("client_id"), r.Form.Get("redirect_uri")); err != nil {
			s.cimdErrorPage(w, r, err)
			return
		}
	}
	if !s.enter(r) {
		return
	}
	defer s.leave()
	ar, err := s.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		s.authorizeError(w, r, ar, err)
		return
	}
	if dup != "" {
		s.authorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHintf("The parameter %s appears more than once.", dup))
		return
	}
	if resourceErr != nil {
		s.authorizeError(w, r, ar, resourceErr)
		return
	}
	if err := s.checkScopes(ar.GetRequestedScopes(), res); err != nil {
		s.authorizeError(w, r, ar, err)
		return
	}
	if err := checkPKCE(ar.GetRequestForm()); err != nil {
		s.authorizeError(w, r, ar, err)
		return
	}
	client, err := s.getClient(ctx, ar.GetClient().GetID())
	if err != nil {
		s.serverError(w, r, "load client", err)
		return
	}
	prompt := strings.Fields(ar.GetRequestForm().Get("prompt"))
	user, signedIn := s.currentUser(r)

	if r.Method == http.MethodPost {
		if !s.checkCSRF(r) {
			s.staleForm(w, r)
			return
		}
		if !signedIn {
			s.renderLogin(w, r, http.StatusUnauthorized, "/authorize?"+params.Encode(), "", "Your sign-in expired. Sign in again to continue.")
			return
		}
		decision := r.PostForm["decision"]
		if len(decision) != 1 {
			decision = []string{""}
		}
		switch decision[0] {
		case "allow":
			granted := grantedScopes(ar.GetRequestedScopes(), r.PostForm["granted_scope"])
			if len(granted) == 0 && len(ar.GetRequestedScopes()) > 0 {
				s.authorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The user granted none of the requested permissions."))
				return
			}
			withheld := without(ar.GetRequestedScopes(), granted)
			ar.SetRequestedScopes(granted)
			if err := s.rememberConsent(r, user, ar, withheld); err != nil {
				s.serverError(w, r, "save consent", err)
				return
			}
			s.logger(r).Info("consent granted", "user_id", user.ID, "client_id", client.ID)
			s.audit(r, AuditConsentGranted, user.ID, client.ID, "success", strings.Join(granted, " "))
			s.issueCode(w, r, ar, user)
		case "deny":
			s.trace.Note(r, trace.Note{Cause: trace.CauseConsentDenied, User: user.Username, UserID: user.ID})
			s.logger(r).Info("consent denied", "user_id", user.ID, "client_id", client.ID)
			s.audit(r, AuditConsentDenied, user.ID, client.ID, "failure", "")
			s.authorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
		default:
			s.errorPage(w, r, http.StatusBadRequest, web.ErrorPage{
				Title: "Bad request", Message: "The consent form must say allow or deny.", Code: "invalid_request",
			})
		}
		return
	}

	if !signedIn {
		if slices.Contains(prompt, "none") {
			s.authorizeError(w, r, ar, fosite.ErrLoginRequired)
			return
		}
		page := web.LoginPage{
			Action:     "/login",
			Next:       "/authorize?" + params.Encode(),
			CSRFToken:  s.csrfToken(w, r),
			ClientName: client.Name,
		}
		s.trace.Note(r, trace.Note{Step: "sign-in page shown", ClientName: client.Name})
		if err := s.tmpl.Login(w, http.StatusOK, page); err != nil {
			s.logger(r).Error("render login page", "err", err)
		}
		return
	}
	if !slices.Contains(prompt, "consent") {
		remembered, err := s.consentCovers(r, user, ar)
		if err != nil {
			s.serverError(w, r, "load consent", err)
			return
		}
		if remembered {
			s.issueCode(w, r, ar, user)
			return
		}
	}
	if slices.Contains(prompt, "none") {
		s.authorizeError(w, r, ar, fosite.ErrConsentRequired)
		return
	}
	s.renderConsent(w, r, ar, res, client, user, params)
}

// authorizeParams returns the authorization request parameters as the
// client sent them (query for GET; the form fields the consent page
// carried for POST), without our own form fields.
func authorizeParams(r *http.Request) url.Values {
	var src url.Values
	if r.Method == http.MethodPost {
		src = r.PostForm
	} else {
		src = r.URL.Query()
	}
	out := url.Values{}
	for k, v := range src {
		if k == csrfField || k == "decision" || k == "granted_scope" {
			continue
		}
		out[k] = slices.Clone(v)
	}
	return out
}

func (s *Server) renderConsent(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, res *servedResource, c storage.Client, u storage.User, params url.Values) {
	page := web.ConsentPage{
		Action:        "/authorize",
		CSRFToken:     s.csrfToken(w, r),
		Username:      u.Username,
		ClientName:    c.Name,
		ClientID:      c.ID,
		RedirectHost:  ar.GetRedirectURI().Host,
		LocalhostOnly: allLoopback(c.RedirectURIs),
	}
	for _, a := range ar.GetRequestedAudience() {
		page.Resources = append(page.Resources, web.Resource{Name: res.rec.Name, URL: a, Description: res.rec.Description})
	}
	if strings.HasPrefix(c.ID, "https://") {
		if cu, err := url.Parse(c.ID); err == nil {
			page.ClientIDHost = cu.Host
		}
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range params[k] {
			page.Hidden = append(page.Hidden, web.Field{Name: k, Value: v})
		}
	}
	for _, name := range ar.GetRequestedScopes() {
		page.Scopes = append(page.Scopes, web.Scope{Name: name, Description: res.rec.ScopeDescriptions[name]})
	}
	s.trace.Note(r, trace.Note{Step: "consent page shown", ClientName: c.Name, User: u.Username, UserID: u.ID})
	if err := s.tmpl.Consent(w, http.StatusOK, page); err != nil {
		s.logger(r).Error("render consent page", "err", err)
	}
}

func allLoopback(uris []string) bool {
	if len(uris) == 0 {
		return false
	}
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil || !isLoopbackHost(u.Hostname()) {
			return false
		}
	}
	return true
}

// consentCovers reports whether the user already allowed this client every
// requested scope and resource.
func (s *Server) consentCovers(r *http.Request, u storage.User, ar fosite.AuthorizeRequester) (bool, error) {
	c, err := s.store.GetConsent(r.Context(), u.ID, ar.GetClient().GetID())
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return subset(ar.GetRequestedScopes(), c.Scopes) && subset(ar.GetRequestedAudience(), c.Resources), nil
}

// rememberConsent adds the requested scopes and resources to the user's
// consent for the client, and takes out the scopes the user was asked for
// on the consent page and withheld: a re-consent with fewer scopes leaves
// a consent of fewer scopes, and the grants of earlier consents that hold
// a withheld scope are revoked, so that no token keeps a permission the
// user just took back.
func (s *Server) rememberConsent(r *http.Request, u storage.User, ar fosite.AuthorizeRequester, withheld []string) error {
	ctx := r.Context()
	now := s.now().UTC().Truncate(time.Second)
	c := storage.Consent{UserID: u.ID, ClientID: ar.GetClient().GetID(), CreatedAt: now, UpdatedAt: now}
	if old, err := s.store.GetConsent(ctx, u.ID, c.ClientID); err == nil {
		c.Scopes, c.Resources = old.Scopes, old.Resources
	} else if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	narrowed := slices.ContainsFunc(withheld, func(sc string) bool { return slices.Contains(c.Scopes, sc) })
	c.Scopes = union(without(c.Scopes, withheld), ar.GetRequestedScopes())
	c.Resources = union(c.Resources, ar.GetRequestedAudience())
	if !narrowed {
		return s.store.PutConsent(ctx, c)
	}
	tokens, err := s.store.ListGrantTokens(ctx, u.ID, c.ClientID)
	if err != nil {
		return err
	}
	var revoke []string
	for _, t := range tokens {
		scopes, err := GrantScopes(t)
		if err != nil || slices.ContainsFunc(scopes, func(sc string) bool { return slices.Contains(withheld, sc) }) {
			if !slices.Contains(revoke, t.RequestID) {
				revoke = append(revoke, t.RequestID)
			}
		}
	}
	tx, err := s.store.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = s.store.Rollback(tx) }()
	if err := s.store.PutConsent(tx, c); err != nil {
		return err
	}
	for _, g := range revoke {
		if err := revokeGrant(tx, s.store, g); err != nil {
			return err
		}
	}
	if err := s.store.Commit(tx); err != nil {
		return err
	}
	for _, g := range revoke {
		s.verified.dropGrant(g)
	}
	return nil
}

// GrantScopes returns the scopes granted to the grant a token row belongs
// to, as stored with it.
func GrantScopes(t storage.Token) ([]string, error) {
	var sr storedRequest
	if err := json.Unmarshal(t.Data, &sr); err != nil {
		return nil, fmt.Errorf("decode stored request: %w", err)
	}
	return sr.GrantedScope, nil
}

// without returns a without the elements of b, in a's order.
func without(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// issueCode grants the requested scopes and resources and redirects back
// to the client with a code, its state and iss (RFC 9207).
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, u storage.User) {
	ctx := r.Context()
	for _, sc := range ar.GetRequestedScopes() {
		ar.GrantScope(sc)
	}
	for _, a := range ar.GetRequestedAudience() {
		ar.GrantAudience(a)
	}
	// The code (which carries its PKCE challenge) and the audit event are
	// one transaction: one write, and never a code without its event.
	e := s.auditEvent(r, AuditCodeIssued, u.ID, ar.GetClient().GetID(), "success", strings.Join(ar.GetGrantedScopes(), " "))
	var resp fosite.AuthorizeResponder
	err := s.withAudit(ctx, e, func(tx context.Context) (err error) {
		resp, err = s.provider.NewAuthorizeResponse(tx, ar, newSession(u, ar.GetClient().GetID()))
		return err
	})
	if err != nil {
		var rfc *fosite.RFC6749Error
		if !errors.As(err, &rfc) {
			err = fosite.ErrServerError.WithWrap(err)
		}
		if fosite.ErrorToRFC6749Error(err).CodeField >= 500 {
			s.logger(r).Error("issue authorization code", "err", err)
		}
		s.authorizeError(w, r, ar, err)
		return
	}
	resp.AddParameter("iss", s.issuer)
	s.trace.Note(r, trace.Note{User: u.Username, UserID: u.ID})
	s.logger(r).Info("authorization code issued", "user_id", u.ID, "client_id", ar.GetClient().GetID())
	s.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// newSession is the token session of a user: RFC 9068 claims and header.
func newSession(u storage.User, clientID string) *oauth2.JWTSession {
	return &oauth2.JWTSession{
		JWTClaims: &jwt.JWTClaims{
			// Set here rather than left to fosite, which would draw a jti
			// when signing and another each time the stored session is
			// read: introspection would report a jti the token lacks.
			JTI:     newJTI(),
			Subject: u.ID,
			Extra:   map[string]interface{}{"client_id": clientID, "preferred_username": u.Username},
		},
		JWTHeader: &jwt.Headers{Extra: map[string]interface{}{"typ": "at+jwt"}},
		Subject:   u.ID,
		Username:  u.Username,
	}
}

// newJTI returns a fresh JWT ID for an access token.
func newJTI() string { return randomToken(16) }

// authorizeError answers a failed authorization request. When the client
// and redirect URI are known to be valid, the error goes back to the client
// (RFC 6749 §4.1.2.1) with state and iss (RFC 9207 §2); otherwise the
// browser gets an error page and is never redirected.
func (s *Server) authorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	if ar != nil && ar.IsRedirectURIValid() {
		target := *ar.GetRedirectURI()
		target.Fragment = ""
		q := target.Query()
		for k, v := range rfc.ToValues() {
			q[k] = v
		}
		if st := ar.GetState(); st != "" {
			q.Set("state", st)
		}
		q.Set("iss", s.issuer)
		target.RawQuery = q.Encode()
		s.logger(r).Info("authorization request refused", "error", rfc.ErrorField, "client_id", ar.GetClient().GetID())
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Location", target.String())
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	page := web.ErrorPage{
		Title:   "This sign-in request cannot continue",
		Message: rfc.GetDescription(),
		Code:    rfc.ErrorField,
		Hint:    "The application that sent you here is misconfigured or not registered. Return to it and check its settings.",
	}
	switch {
	case errors.Is(err, fosite.ErrInvalidClient), rfc.ErrorField == "invalid_client":
		page.Title = "Unknown application"
		page.Message = "No application is registered with this client ID."
		s.trace.Note(r, trace.Note{Cause: trace.CauseUnknownClient})
	case rfc.ErrorField == "invalid_request" && ar != nil && ar.GetClient() != nil && ar.GetClient().GetID() != "":
		page.Title = "Redirect URI not allowed"
		if s.trace != nil {
			s.trace.Note(r, trace.Note{Cause: trace.CauseRedirectUnregistered, RedirectURI: r.Form.Get("redirect_uri"),
				Registered: ar.GetClient().GetRedirectURIs()})
		}
		if details, hint := s.cimdRedirectDetails(r, ar.GetClient().GetID(), r.Form.Get("redirect_uri")); details != nil {
			page.Details, page.Hint = details, hint
		}
	}
	s.logger(r).Info("authorization request refused without redirect", "error", rfc.ErrorField)
	status := rfc.CodeField
	if status < 400 || status >= 500 {
		status = http.StatusBadRequest
	}
	s.errorPage(w, r, status, page)
}

// checkPKCE refuses an authorization request without an S256 PKCE
// challenge before anyone is asked to sign in. fosite checks the same when
// it issues the code, which is too late to spare the user a sign-in.
func checkPKCE(form url.Values) error {
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case challenge == "":
		return fosite.ErrInvalidRequest.WithHint("Clients must include a code_challenge (PKCE with S256 is required).")
	case method != "S256":
		return fosite.ErrInvalidRequest.WithHint("Clients must use code_challenge_method=S256.")
	case len(challenge) != 43 || strings.Trim(challenge, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "":
		return fosite.ErrInvalidRequest.WithHint("The code_challenge must be the base64url SHA-256 of the code_verifier (43 characters).")
	}
	return nil
}

// duplicated returns the first parameter of v that appears more than
// once (RFC 6749 §3.1: parameters must not be included more than once),
// apart from the multi-valued ones named in multi, or "".
func duplicated(v url.Values, multi ...string) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if len(v[k]) > 1 && !slices.Contains(multi, k) {
			return k
		}
	}
	return ""
}

// grantedScopes returns the requested scopes the user left ticked on the
// consent page, in request order.
func grantedScopes(requested, ticked []string) []string {
	var out []string
	for _, sc := range requested {
		if slices.Contains(ticked, sc) {
			out = append(out, sc)
		}
	}
	return out
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
