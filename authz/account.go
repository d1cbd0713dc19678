package authz

import (
	"errors"
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
	n, err := s.RevokeUserClient(r, u.ID, clientID)
	if err != nil {
		s.serverError(w, r, "revoke application", err)
		return
	}
	s.audit(r, "consent.revoked", u.ID, clientID, "success", "")
	s.logger(r).Info("application revoked by user", "user_id", u.ID, "client_id", clientID, "grants", n)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/account?notice="+url.QueryEscape("Access revoked."), http.StatusSeeOther)
}

// RevokeUserClient deletes a user's consent for a client and revokes every
// grant between them, in one transaction. It returns how many grants were
// revoked.
func (s *Server) RevokeUserClient(r *http.Request, userID, clientID string) (int, error) {
	ctx := r.Context()
	tokens, err := s.store.ListGrantTokens(ctx, userID, clientID)
	if err != nil {
		return 0, err
	}
	var grants []string
	for _, t := range tokens {
		if !slices.Contains(grants, t.RequestID) {
			grants = append(grants, t.RequestID)
		}
	}
	tx, err := s.store.BeginTx(ctx)
	if err != nil {
		return 0, err
	}
	if err := s.store.DeleteConsent(tx, userID, clientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		_ = s.store.Rollback(tx)
		return 0, err
	}
	for _, g := range grants {
		if err := revokeGrant(tx, s.store, g); err != nil {
			_ = s.store.Rollback(tx)
			return 0, err
		}
	}
	if err := s.store.Commit(tx); err != nil {
		return 0, err
	}
	for _, g := range grants {
		s.verified.dropGrant(g)
	}
	return len(grants), nil
}
