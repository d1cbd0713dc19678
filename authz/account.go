package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/web"
)

// account shows the signed-in user the applications they have authorized.
func (s *Server) account(w http.ResponseWriter, r *http.Request) {
	u, ok := s.currentUser(r)
	if !ok {
		s.renderLogin(w, r, http.StatusOK, "/account", "", "")
		return
	}
	s.renderAccount(w, r, u, r.URL.Query().Get("notice"))
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, u storage.User, notice string) {
	ctx := r.Context()
	consents, err := s.store.ListConsents(ctx, u.ID)
	if err != nil {
		s.serverError(w, r, "list consents", err)
		return
	}
	tokens, err := s.store.ListGrantTokens(ctx, u.ID, "")
	if err != nil {
		s.serverError(w, r, "list grants", err)
		return
	}
	page := web.AccountPage{
		Username: u.Username, CSRFToken: s.csrfToken(w, r),
		RevokeAction: "/account/revoke", LogoutAction: "/logout", Notice: notice,
	}
	seen := map[string]bool{}
	add := func(clientID string, c *storage.Consent) {
		seen[clientID] = true
		app := web.AccountApp{ClientID: clientID}
		if cl, err := s.store.GetClient(ctx, clientID); err == nil {
			app.ClientName = cl.Name
		}
		if strings.HasPrefix(clientID, "https://") {
			if cu, err := url.Parse(clientID); err == nil {
				app.ClientIDHost = cu.Host
			}
		}
		if c != nil {
			app.Scopes, app.Resources = c.Scopes, c.Resources
			app.GrantedAt = formatPageTime(c.CreatedAt)
		}
		var last time.Time
		for _, t := range tokens {
			if t.ClientID == clientID {
				if c == nil {
					// No consent to show: the scopes the grants hold.
					if sc, err := GrantScopes(t); err == nil {
						app.Scopes = union(app.Scopes, sc)
					}
				}
				app.ActiveTokens++
				if t.RequestedAt.After(last) {
					last = t.RequestedAt
				}
			}
		}
		app.LastUsedAt = formatPageTime(last)
		page.Apps = append(page.Apps, app)
	}
	for i := range consents {
		add(consents[i].ClientID, &consents[i])
	}
	// Grants whose consent is gone (e.g. remembered consent was never
	// stored) still show, so they can be revoked.
	for _, t := range tokens {
		if !seen[t.ClientID] {
			add(t.ClientID, nil)
		}
	}
	if err := s.tmpl.Account(w, http.StatusOK, page); err != nil {
		s.logger(r).Error("render account page", "err", err)
	}
}

func formatPageTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// revokeApp deletes the user's consent for a client and revokes every
// token of their grants, so the application's next call fails at once.
func (s *Server) revokeApp(w http.ResponseWriter, r *http.Request) {
	if !s.postedForm(w, r) {
		return
	}
	u, ok := s.currentUser(r)
	if !ok {
		s.renderLogin(w, r, http.StatusUnauthorized, "/account", "", "Sign in again to manage your applications.")
		return
	}
	clientID := r.PostForm.Get("client_id")
	if clientID == "" || len(r.PostForm["client_id"]) != 1 {
		s.badForm(w, r)
		return
	}
	e := s.auditEvent(r, AuditConsentRevoked, u.ID, clientID, "success", "")
	n, err := s.RevokeUserClient(r, u.ID, clientID, e)
	if err != nil {
		s.serverError(w, r, "revoke application", err)
		return
	}
	s.countEvent(e)
	s.logger(r).Info("application revoked by user", "user_id", u.ID, "client_id", clientID, "grants", n)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/account?notice="+url.QueryEscape("Access revoked."), http.StatusSeeOther)
}

// RevokeUserClient deletes a user's consent for a client and revokes every
// grant between them (see RevokeConsent), and forgets those grants' tokens
// at once. It returns how many grants were revoked.
func (s *Server) RevokeUserClient(r *http.Request, userID, clientID string, e storage.AuditEvent) (int, error) {
	grants, err := RevokeConsent(r.Context(), s.store, userID, clientID, e)
	if err != nil {
		return 0, err
	}
	for _, g := range grants {
		s.verified.dropGrant(g)
	}
	return len(grants), nil
}

// RevokeConsent is what Revoke on the account page and "tenantless grant
// revoke" both do: it deletes the user's consent for the client, so that
// the client's next authorization shows the consent page again, and
// revokes every grant between them (their refresh tokens and unused codes
// deactivated, access tokens deleted), in one transaction with the audit
// event e (an AuditConsentRevoked event). It returns the IDs of the grants
// revoked.
func RevokeConsent(ctx context.Context, st storage.Store, userID, clientID string, e storage.AuditEvent) ([]string, error) {
	tokens, err := st.ListGrantTokens(ctx, userID, clientID)
	if err != nil {
		return nil, err
	}
	var grants []string
	for _, t := range tokens {
		if !slices.Contains(grants, t.RequestID) {
			grants = append(grants, t.RequestID)
		}
	}
	tx, err := st.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = st.Rollback(tx) }()
	if err := st.DeleteConsent(tx, userID, clientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	for _, g := range grants {
		if err := revokeGrant(tx, st, g); err != nil {
			return nil, err
		}
	}
	if err := st.AppendAudit(tx, e); err != nil {
		return nil, fmt.Errorf("append audit event: %w", err)
	}
	if err := st.Commit(tx); err != nil {
		return nil, err
	}
	return grants, nil
}
