package authz

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ory/fosite"

	"github.com/tenantless/tenantless/authz/cimd"
	"github.com/tenantless/tenantless/authz/redirecturi"
	"github.com/tenantless/tenantless/authz/trace"
	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/web"
)

// CIMDClient returns the client record for a metadata document, as stored
// for a client_id that is its URL. UpdatedAt is when the document was
// fetched (now for a document that was not).
func CIMDClient(doc cimd.Document, now time.Time) storage.Client {
	now = now.UTC().Truncate(time.Second)
	fetched := now
	if !doc.FetchedAt.IsZero() {
		fetched = doc.FetchedAt.UTC().Truncate(time.Second)
	}
	return storage.Client{
		ID:                      doc.ClientID,
		Name:                    doc.ClientName,
		RedirectURIs:            doc.RedirectURIs,
		GrantTypes:              doc.GrantTypes,
		ResponseTypes:           doc.ResponseTypes,
		TokenEndpointAuthMethod: authMethodNone,
		Source:                  storage.SourceCIMD,
		Metadata:                doc.Raw,
		CreatedAt:               now,
		UpdatedAt:               fetched,
		ExpiresAt:               doc.ExpiresAt.UTC().Truncate(time.Second),
	}
}

// cimdUse says which step of an authorization a metadata-document client
// is looked up for, which decides whether its document is fetched again.
type cimdUse int

const (
	// cimdNewRequest is a new authorization request (GET /authorize): the
	// user is about to trust the metadata, so a copy is used only while
	// the resolver would: before it expires, and for a document served
	// with no-store, no-cache or max-age=0 only just after it was fetched.
	cimdNewRequest cimdUse = iota
	// cimdContinue is a step of an authorization under way (the consent
	// POST): the stored copy serves until it expires.
	cimdContinue
	// cimdToken is the token endpoint, for a grant the user already
	// approved: the stored copy serves as it is.
	cimdToken
)

// ensureCIMDClient makes sure a metadata-document client_id has a client
// record fit for use before fosite looks the client up. It runs before
// any transaction, since it may fetch. A record installed from a file
// ("tenantless client add --from-file", ExpiresAt zero) is never fetched.
// A client_id that is not a URL is left to fosite.
func (s *Server) ensureCIMDClient(r *http.Request, clientID string, use cimdUse) error {
	ctx := r.Context()
	if s.cimd == nil || !cimd.IsClientIDURL(clientID) {
		return nil
	}
	stored, err := s.store.GetClient(ctx, clientID)
	switch {
	case err == nil && (stored.Source != storage.SourceCIMD || stored.ExpiresAt.IsZero()):
		return nil
	case err == nil && use == cimdToken:
		return nil
	case err == nil && use == cimdContinue && s.now().Before(stored.ExpiresAt):
		return nil
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return err
	}
	doc, ok := s.cimd.Lookup(clientID)
	if !ok {
		// A stored copy that has not expired may stand in when the fetch
		// cannot be made (after a restart the resolver's memory is empty,
		// and the document's host may be unreachable).
		usable := err == nil && s.now().Before(stored.ExpiresAt)
		if ok, wait := s.limits.byAddress(s.limits.cimdFetch, r); !ok {
			if usable {
				return nil
			}
			return &rateLimited{wait}
		}
		var ferr error
		if doc, ferr = s.cimd.Resolve(ctx, clientID); ferr != nil {
			s.trace.Note(r, trace.Note{Fetched: clientID, Cause: trace.CauseCIMD, Detail: ferr.Error()})
			if usable && cimd.KindOf(ferr) != cimd.KindCanceled {
				s.logger(r).Warn("client metadata document could not be fetched again; using the stored copy until it expires",
					"client_id", clientID, "expires_at", stored.ExpiresAt, "err", ferr)
				return nil
			}
			return ferr
		}
	}
	return s.storeCIMDClient(r, stored, doc)
}

// refreshCIMDRedirect gives a metadata-document client one more chance
// for a redirect URI its stored copy does not list: the document is
// fetched again (Resolver.Refresh, at most once per document per
// RefetchInterval, and within the per-address fetch limit) before fosite
// refuses the request. A client developer who just added a redirect URI
// or a port signs in at once.
func (s *Server) refreshCIMDRedirect(r *http.Request, clientID, redirectURI string) error {
	if s.cimd == nil || redirectURI == "" || !cimd.IsClientIDURL(clientID) {
		return nil
	}
	c, err := s.store.GetClient(r.Context(), clientID)
	if err != nil || c.Source != storage.SourceCIMD || c.ExpiresAt.IsZero() || redirectAllowed(c.RedirectURIs, redirectURI) {
		return nil
	}
	if ok, wait := s.limits.byAddress(s.limits.cimdFetch, r); !ok {
		return &rateLimited{wait}
	}
	doc, err := s.cimd.Refresh(r.Context(), clientID)
	if err != nil {
		s.trace.Note(r, trace.Note{Fetched: clientID, Cause: trace.CauseCIMD, Detail: err.Error()})
		return err
	}
	s.logger(r).Info("client metadata document fetched again for an unlisted redirect URI",
		"client_id", clientID, "listed", redirectAllowed(doc.RedirectURIs, redirectURI))
	return s.storeCIMDClient(r, c, doc)
}

// redirectAllowed reports whether requested is one of registered, or
// matches one of them but for an http loopback port (RFC 8252 §7.3), as
// fositeClient lets it.
func redirectAllowed(registered []string, requested string) bool {
	for _, reg := range registered {
		if reg == requested || redirecturi.LoopbackMatch(reg, requested) {
			return true
		}
	}
	return false
}

// storeCIMDClient stores doc as the client record, unless stored (the
// record read before, zero if there was none) already holds this copy.
func (s *Server) storeCIMDClient(r *http.Request, stored storage.Client, doc cimd.Document) error {
	s.trace.Note(r, trace.Note{Fetched: doc.ClientID, ClientName: doc.ClientName})
	ctx := r.Context()
	rec := CIMDClient(doc, s.now())
	if stored.ID != "" {
		if bytes.Equal(stored.Metadata, rec.Metadata) && stored.UpdatedAt.Equal(rec.UpdatedAt) && stored.ExpiresAt.Equal(rec.ExpiresAt) {
			return nil
		}
		rec.CreatedAt, rec.LastUsedAt = stored.CreatedAt, stored.LastUsedAt
		defer s.clients.drop(rec.ID)
		return s.store.UpdateClient(ctx, rec)
	}
	defer s.clients.drop(rec.ID)
	if err := s.store.CreateClient(ctx, rec); errors.Is(err, storage.ErrConflict) {
		return s.store.UpdateClient(ctx, rec) // a concurrent request stored it first
	} else if err != nil {
		return err
	}
	s.logger(r).Info("client metadata document accepted", "client_id", rec.ID, "client_name", doc.ClientName)
	s.audit(r, AuditClientRegistered, "", rec.ID, "success", "client ID metadata document: "+doc.ClientName)
	return nil
}

// cimdRedirectDetails explains, for the error page, why a metadata-document
// client's redirect URI was refused: what its document lists and when
// tenantless fetched it. Nil for other clients.
func (s *Server) cimdRedirectDetails(r *http.Request, clientID, requested string) (details []string, hint string) {
	if !cimd.IsClientIDURL(clientID) {
		return nil, ""
	}
	c, err := s.store.GetClient(r.Context(), clientID)
	if err != nil || c.Source != storage.SourceCIMD {
		return nil, ""
	}
	details = append(details, "Requested redirect URI: "+requested)
	if c.ExpiresAt.IsZero() {
		details = append(details, "The client metadata document "+clientID+" was installed from a file ("+
			c.UpdatedAt.UTC().Format(time.RFC3339)+") and is never fetched; it lists:")
	} else {
		ago := s.now().Sub(c.UpdatedAt).Truncate(time.Second)
		details = append(details, fmt.Sprintf("The client metadata document %s, fetched at %s (%s ago), lists:",
			clientID, c.UpdatedAt.UTC().Format(time.RFC3339), ago))
	}
	for _, u := range c.RedirectURIs {
		details = append(details, "  "+u)
	}
	hint = "Add the redirect URI to the document's redirect_uris and sign in again: tenantless fetches the document again " +
		"when a redirect URI is not listed (at most once every few seconds). An http loopback redirect URI matches on any port."
	if c.ExpiresAt.IsZero() {
		hint = "Install the document again with the redirect URI (\"tenantless client add --metadata-url " + clientID + " --from-file FILE\")."
	}
	return details, hint
}

// cimdErrorPage tells the person at the browser why a metadata document
// could not be used. It never redirects.
func (s *Server) cimdErrorPage(w http.ResponseWriter, r *http.Request, err error) {
	var rl *rateLimited
	if errors.As(err, &rl) {
		secs := retryAfter(w, rl.wait)
		s.errorPage(w, r, http.StatusTooManyRequests, web.ErrorPage{
			Title: "Too many requests", Code: "rate_limited",
			Message: fmt.Sprintf("Too many client metadata documents were fetched for this address. Try again in %d seconds.", secs),
		})
		return
	}
	var ce *cimd.Error
	if !errors.As(err, &ce) {
		s.serverError(w, r, "resolve client metadata document", err)
		return
	}
	status, code := http.StatusBadRequest, "invalid_client"
	if ce.Kind == cimd.KindBusy {
		status, code = http.StatusServiceUnavailable, "temporarily_unavailable"
	}
	s.logger(r).Info("client metadata document refused", "kind", ce.Kind.String(), "err", err)
	s.errorPage(w, r, status, web.ErrorPage{
		Title:   "The application's metadata document cannot be used",
		Message: ce.Error(),
		Code:    code,
		Hint:    "The application identifies itself with a client metadata document URL. Check that the URL serves the document, or register the client another way (\"tenantless client add\").",
	})
}

// cimdTokenError is the token endpoint's answer for a metadata-document
// client that cannot be resolved.
func cimdTokenError(err error) *fosite.RFC6749Error {
	var rl *rateLimited
	if errors.As(err, &rl) {
		return fosite.ErrTemporarilyUnavailable.WithHint("Too many client metadata document fetches from this address; retry later.")
	}
	var ce *cimd.Error
	if errors.As(err, &ce) && ce.Kind == cimd.KindBusy {
		return fosite.ErrTemporarilyUnavailable.WithHint(ce.Error())
	}
	if errors.As(err, &ce) {
		return fosite.ErrInvalidClient.WithHint(ce.Error())
	}
	return fosite.ErrServerError
}

// rateLimited reports a request refused by a rate limit.
type rateLimited struct{ wait time.Duration }

func (e *rateLimited) Error() string { return "rate limited" }
