package authz

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/ory/fosite"

	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/web"
)

// logger returns the server's logger with the request ID the front
// handler put in the X-Request-Id header.
func (s *Server) logger(r *http.Request) *slog.Logger {
	if r == nil {
		return s.log
	}
	if id := r.Header.Get("X-Request-Id"); id != "" {
		return s.log.With("request_id", id)
	}
	return s.log
}

// writeJSON writes v as a JSON body with the given status and media type.
func writeJSON(w http.ResponseWriter, _ *http.Request, status int, contentType string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":"server_error"}`))
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeOAuthError writes an RFC 6749 §5.2 JSON error.
func writeOAuthError(w http.ResponseWriter, r *http.Request, err *fosite.RFC6749Error) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	body := map[string]string{"error": err.ErrorField}
	if d := err.GetDescription(); d != "" {
		body["error_description"] = d
	}
	if err.CodeField == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="tenantless"`)
	}
	writeJSON(w, r, err.CodeField, "application/json;charset=UTF-8", body)
}

// errorPage renders an HTML error page for a browser.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, p web.ErrorPage) {
	if err := s.tmpl.Error(w, status, p); err != nil {
		s.logger(r).Error("render error page", "err", err)
		web.SetPageHeaders(w.Header())
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("<!doctype html><title>Error</title><p>Something went wrong.</p>"))
	}
}

// infoPage renders a short message page.
func (s *Server) infoPage(w http.ResponseWriter, r *http.Request, title, msg string) {
	s.errorPage(w, r, http.StatusOK, web.ErrorPage{Title: title, Message: msg})
}

// errUnavailable answers a request the database could not serve now
// (storage.ErrUnavailable): 503, which a load balancer and a client retry,
// rather than a 500.
var errUnavailable = fosite.ErrTemporarilyUnavailable.WithHint("The database is unavailable; retry in a moment.")

// serverError logs err and shows a page that says nothing internal; a
// database that is unavailable gets a 503 page that says to retry.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, storage.ErrUnavailable) {
		s.logger(r).Warn(what+": database unavailable", "err", err)
		w.Header().Set("Retry-After", "1")
		s.errorPage(w, r, http.StatusServiceUnavailable, web.ErrorPage{
			Title:   "Temporarily unavailable",
			Message: "tenantless cannot reach its database at the moment.",
			Code:    "temporarily_unavailable",
			Hint:    "Try again in a moment.",
		})
		return
	}
	s.logger(r).Error(what, "err", err)
	s.errorPage(w, r, http.StatusInternalServerError, web.ErrorPage{
		Title:   "Something went wrong",
		Message: "tenantless could not complete this request.",
		Code:    "server_error",
		Hint:    "Try again; if it keeps failing, the server log says why.",
	})
}

func (s *Server) badForm(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, http.StatusBadRequest, web.ErrorPage{
		Title:   "Bad request",
		Message: "The form could not be read.",
		Code:    "invalid_request",
	})
}

func (s *Server) staleForm(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, http.StatusForbidden, web.ErrorPage{
		Title:   "Form expired",
		Message: "This form is no longer valid (its security token did not match).",
		Code:    "invalid_csrf_token",
		Hint:    "Go back to the application and start the sign-in again.",
	})
}
