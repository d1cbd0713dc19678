package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tenantless/tenantless/resource"
)

// front wraps the whole handler tree: it gives every request a fresh ID
// (in the X-Request-Id request and response headers, which the packages'
// loggers read), recovers panics into a bare 500 without a stack trace in
// the response, and writes an access log line.
func front(next http.Handler, log *slog.Logger, m *metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		r.Header.Set("X-Request-Id", id)
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w}
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic serving request", "request_id", id, "path", r.URL.Path, "panic", p)
				if !rec.wrote {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusInternalServerError)
					_, _ = w.Write([]byte(`{"error":"server_error"}`))
				}
				return
			}
			elapsed := time.Since(start)
			m.observe(r, rec.status, elapsed)
			log.Debug("request", "request_id", id, "method", r.Method, "path", r.URL.Path,
				"status", rec.status, "duration_ms", elapsed.Milliseconds())
		}()
		next.ServeHTTP(rec, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.wrote {
		s.status, s.wrote = http.StatusOK, true
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer (flushing SSE).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// newRequestID returns a random ID for correlating one request's log records.
func newRequestID() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hostGuard refuses requests whose Host header is neither a loopback name
// nor the issuer's host: a web page on another site that rebinds its DNS
// name to 127.0.0.1 reaches the server with its own name in Host, and is
// answered 421 Misdirected Request on every route. (421, not 403: some
// clients treat any 403 as an authorization failure.)
func hostGuard(next http.Handler, publicHost string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if resource.IsLoopbackHost(r.Host) || strings.EqualFold(r.Host, publicHost) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMisdirectedRequest)
		_, _ = fmt.Fprintf(w, `{"error":"misdirected_request","error_description":"this server answers to localhost, 127.0.0.1, [::1] and %s; set --issuer to the URL clients use"}`+"\n", publicHost)
	})
}
