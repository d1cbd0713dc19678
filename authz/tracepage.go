package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/tenantless/tenantless/authz/trace"
	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/web"
)

// mountTrace adds the auth trace's pages for admin users:
//
//	GET  /trace         the attempts and their timelines (reloads without JavaScript)
//	GET  /trace/events  server-sent events: each new event as JSON
//	POST /trace/fault   inject a fault (CSRF-checked form)
func (s *Server) mountTrace(mux *http.ServeMux) {
	mux.HandleFunc("GET /trace", s.tracePage)
	mux.HandleFunc("GET /trace/events", s.traceEvents)
	mux.Handle("POST /trace/fault", s.browserForm(http.HandlerFunc(s.traceFault)))
	mux.Handle("/trace", s.pageMethodNotAllowed("GET"))
	mux.Handle("/trace/fault", s.pageMethodNotAllowed("POST"))
}

// traceAdmin returns the signed-in admin of r, or answers: the sign-in
// page when nobody is signed in, 403 for a user who is not an admin.
func (s *Server) traceAdmin(w http.ResponseWriter, r *http.Request) (storage.User, bool) {
	u, ok := s.currentUser(r)
	if !ok {
		s.renderLogin(w, r, http.StatusUnauthorized, "/trace", "", "Sign in as an admin to see the auth trace.")
		return u, false
	}
	if !u.Admin {
		s.errorPage(w, r, http.StatusForbidden, web.ErrorPage{
			Title:   "Admins only",
			Message: "The auth trace shows every client's sign-ins, so only admin users may open it.",
			Code:    "forbidden",
			Hint:    "Ask an admin, or create an admin user: tenantless user add --admin NAME.",
		})
		return u, false
	}
	return u, true
}

func traceFilter(r *http.Request) trace.Filter {
	q := r.URL.Query()
	return trace.Filter{ClientID: q.Get("client"), User: q.Get("user")}
}

// tracePage serves GET /trace.
func (s *Server) tracePage(w http.ResponseWriter, r *http.Request) {
	u, ok := s.traceAdmin(w, r)
	if !ok {
		return
	}
	s.renderTrace(w, r, u, http.StatusOK, "", false)
}

func (s *Server) renderTrace(w http.ResponseWriter, r *http.Request, u storage.User, status int, notice string, isErr bool) {
	f := traceFilter(r)
	page := web.TracePage{
		Username:    u.Username,
		CSRFToken:   s.csrfToken(w, r),
		FaultAction: "/trace/fault",
		Client:      f.ClientID,
		User:        f.User,
		Scopes:      s.registry.scopeNames(),
		Notice:      notice,
		Error:       isErr,
		Size:        s.trace.Size(),
	}
	ev := url.Values{}
	if f.ClientID != "" {
		ev.Set("client", f.ClientID)
	}
	if f.User != "" {
		ev.Set("user", f.User)
	}
	page.EventsURL = "/trace/events?" + ev.Encode()
	clients, users := s.trace.Clients()
	for id, name := range clients {
		label := id
		if name != "" {
			label = name + " (" + id + ")"
		}
		page.Clients = append(page.Clients, web.TraceOption{Value: id, Label: label})
	}
	slices.SortFunc(page.Clients, func(a, b web.TraceOption) int { return strings.Compare(a.Label, b.Label) })
	page.Users = users
	for _, a := range s.trace.Attempts(f) {
		ta := web.TraceAttempt{ID: a.ID, ClientID: a.ClientID, ClientName: a.ClientName, User: a.User,
			State: a.State, Mark: a.Mark(), Start: a.Start.UTC().Format(time.RFC3339)}
		for _, e := range a.Events {
			ta.Events = append(ta.Events, web.TraceEvent{Seq: e.Seq, Time: e.Time.UTC().Format("15:04:05"), Route: e.Route, Step: e.Step,
				Status: e.Status, Outcome: e.Outcome, Mark: e.Mark(), Reason: e.Reason, Hint: e.Hint, Token: e.Token})
		}
		page.Attempts = append(page.Attempts, ta)
	}
	if err := s.tmpl.Trace(w, status, page); err != nil {
		s.logger(r).Error("render trace page", "err", err)
	}
}

// traceEvents serves GET /trace/events: the events after ?after=SEQ (or
// the Last-Event-ID header) that pass the filter, then each new one, as
// server-sent events whose data is the event's JSON.
func (s *Server) traceEvents(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.traceAdmin(w, r); !ok {
		return
	}
	after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	if id, err := strconv.ParseUint(r.Header.Get("Last-Event-ID"), 10, 64); err == nil && id > after {
		after = id
	}
	StreamTrace(r.Context(), w, s.trace, traceFilter(r), after, true, func(w http.ResponseWriter, e trace.Event) error {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "id: %d\ndata: %s\n\n", e.Seq, b)
		return err
	})
}

// StreamTrace writes the recorded events after seq that pass f, then
// (with follow) every new one until ctx ends, each with write, flushing
// after each. It sets the server-sent events headers when write is for
// them (the content type is left to the caller otherwise).
func StreamTrace(ctx context.Context, w http.ResponseWriter, rec *trace.Recorder, f trace.Filter, after uint64, follow bool,
	write func(http.ResponseWriter, trace.Event) error) {
	rc := http.NewResponseController(w)
	h := w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "text/event-stream")
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	var ch <-chan trace.Event
	if follow {
		var cancel func()
		ch, cancel = rec.Subscribe(ctx)
		defer cancel()
	}
	w.WriteHeader(http.StatusOK)
	last := after
	for _, e := range rec.Events(f) {
		if e.Seq > last {
			if write(w, e) != nil {
				return
			}
			last = e.Seq
		}
	}
	_ = rc.Flush()
	if !follow {
		return
	}
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-rec.Done():
			return
		case <-keepalive.C:
			if strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
				if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
					return
				}
				_ = rc.Flush()
			}
		case e := <-ch:
			if e.Seq <= last || !f.Match(e) {
				continue
			}
			if write(w, e) != nil {
				return
			}
			last = e.Seq
			_ = rc.Flush()
		}
	}
}

// traceFault serves POST /trace/fault: it injects the fault the form
// names and goes back to the trace.
func (s *Server) traceFault(w http.ResponseWriter, r *http.Request) {
	if !s.postedForm(w, r) {
		return
	}
	u, ok := s.traceAdmin(w, r)
	if !ok {
		return
	}
	f := trace.Fault{
		Kind:     r.PostForm.Get("kind"),
		ClientID: r.PostForm.Get("client_id"),
		Tool:     strings.TrimSpace(r.PostForm.Get("tool")),
		Scope:    r.PostForm.Get("scope"),
		By:       u.Username,
	}
	if d := r.PostForm.Get("delay"); d != "" {
		secs, err := strconv.Atoi(d)
		if err != nil {
			s.renderTrace(w, r, u, http.StatusBadRequest, "The delay must be a whole number of seconds.", true)
			return
		}
		f.Delay = time.Duration(secs) * time.Second
	}
	if _, err := s.trace.Inject(r.Context(), f); err != nil {
		status := http.StatusBadRequest
		if !errors.Is(err, trace.ErrFault) {
			s.logger(r).Error("inject fault", "kind", f.Kind, "err", err)
			status = http.StatusInternalServerError
		}
		s.renderTrace(w, r, u, status, "The fault was not injected: "+err.Error(), true)
		return
	}
	s.logger(r).Info("fault injected", "kind", f.Kind, "client_id", f.ClientID, "by", u.Username)
	w.Header().Set("Cache-Control", "no-store")
	back := "/trace"
	if c := r.PostForm.Get("back_client"); c != "" { // a query value under /trace: never another site
		back += "?client=" + url.QueryEscape(c)
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// noteToken tells the trace about issued tokens: by fingerprint only.
func (s *Server) noteToken(r *http.Request, ar fosite.AccessRequester, resp fosite.AccessResponder) {
	if s.trace == nil {
		return
	}
	n := trace.Note{
		ClientID: ar.GetClient().GetID(),
		UserID:   ar.GetSession().GetSubject(),
		Grant:    trace.Fingerprint(ar.GetID()),
		Token:    trace.Fingerprint(resp.GetAccessToken()),
		Issued:   true,
		Scopes:   ar.GetGrantedScopes(),
	}
	if sess, ok := ar.GetSession().(*oauth2.JWTSession); ok {
		n.User = sess.Username
	}
	if exp := ar.GetSession().GetExpiresAt(fosite.AccessToken); !exp.IsZero() {
		n.Expiry = exp
	}
	s.trace.Note(r, n)
}

// userGrants returns the request IDs of the user's live grants to the client.
func (s *Server) userGrants(ctx context.Context, userID, clientID string) ([]string, error) {
	tokens, err := s.store.ListGrantTokens(ctx, userID, clientID)
	if err != nil {
		return nil, err
	}
	var grants []string
	for _, t := range tokens {
		if !slices.Contains(grants, t.RequestID) {
			grants = append(grants, t.RequestID)
		}
	}
	return grants, nil
}

// ExpireAccessTokens makes every access token of the user's grants to the
// client invalid now, leaving their refresh tokens valid: what a client
// sees when its token expires early (fault injection). It returns the
// number of grants touched.
func (s *Server) ExpireAccessTokens(ctx context.Context, userID, clientID string) (int, error) {
	grants, err := s.userGrants(ctx, userID, clientID)
	if err != nil {
		return 0, err
	}
	for _, g := range grants {
		if _, err := s.store.DeleteGrant(ctx, storage.KindAccess, g); err != nil {
			return 0, err
		}
		s.verified.dropGrant(g)
	}
	return len(grants), nil
}

// RevokeGrants revokes every grant (refresh and access tokens) of the
// user to the client, keeping the consent, so the client must sign in
// again but is not asked to consent again (fault injection).
func (s *Server) RevokeGrants(ctx context.Context, userID, clientID string) (int, error) {
	grants, err := s.userGrants(ctx, userID, clientID)
	if err != nil {
		return 0, err
	}
	for _, g := range grants {
		if err := revokeGrant(ctx, s.store, g); err != nil {
			return 0, err
		}
		s.verified.dropGrant(g)
	}
	return len(grants), nil
}
