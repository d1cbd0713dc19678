package authz

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ory/fosite"

	"github.com/tenantless/tenantless/authz/cimd"
	"github.com/tenantless/tenantless/authz/trace"
	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/web"
)

// CIMDClient returns the client record for a metadata document, as stored
// for a client_id that is its URL.
func CIMDClient(doc cimd.Document, now time.Time) storage.Client {
	now = now.UTC().Truncate(time.Second)
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
		UpdatedAt:               now,
		ExpiresAt:               doc.ExpiresAt.UTC().Truncate(time.Second),
	}
}

// ensureCIMDClient makes sure a metadata-document client_id has a fresh
// client record before fosite looks the client up. It runs before any
// transaction, since it may fetch. requireFresh re-resolves a stored
// record whose cache time has passed (at /authorize, where the user is
// about to trust the metadata); otherwise a stored record is used as it is
// (at /token, for a grant the user already approved). A client_id that is
// not a URL is left to fosite.
func (s *Server) ensureCIMDClient(r *http.Request, clientID string, requireFresh bool) error {
	ctx := r.Context()
	if s.cimd == nil || !cimd.IsClientIDURL(clientID) {
		return nil
	}
	stored, err := s.store.GetClient(ctx, clientID)
	switch {
	case err == nil && stored.Source != storage.SourceCIMD:
		return nil
	case err == nil && (!requireFresh || stored.ExpiresAt.IsZero() || s.now().Before(stored.ExpiresAt)):
		return nil
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return err
	}
	if ok, wait := s.limits.byAddress(s.limits.cimdFetch, r); !ok {
		return &rateLimited{wait}
	}
	doc, err := s.cimd.Resolve(ctx, clientID)
	if err != nil {
		s.trace.Note(r, trace.Note{Fetched: clientID, Cause: trace.CauseCIMD, Detail: err.Error()})
		return err
	}
	s.trace.Note(r, trace.Note{Fetched: clientID, ClientName: doc.ClientName})
	rec := CIMDClient(doc, s.now())
	if stored.ID != "" {
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
	s.logger(r).Info("client metadata document accepted", "client_id", clientID, "client_name", doc.ClientName)
	s.audit(r, AuditClientRegistered, "", clientID, "success", "client ID metadata document: "+doc.ClientName)
	return nil
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
