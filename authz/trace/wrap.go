package trace

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// formKeys are the only request parameters an event ever reads: none of
// them is a secret (code, code_verifier, client_secret, refresh_token,
// password and state are never read).
var formKeys = []string{"client_id", "redirect_uri", "grant_type", "resource", "scope", "response_type",
	"code_challenge_method", "decision", "prompt"}

// Wrap is the middleware that turns each traced request (discovery, the
// OAuth endpoints, sign-in, MCP) into an event: it gives the handlers a
// place to Note what they decided, then records the route, the status and
// what the answer said (its OAuth error and description, never its body
// otherwise). It also fires the armed token-endpoint faults.
func (rec *Recorder) Wrap(next http.Handler) http.Handler {
	if rec == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !traced(r.URL.Path) || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		p := &pending{method: r.Method, path: r.URL.Path}
		p.ev = Event{Time: rec.now().UTC(), Route: r.Method + " " + r.URL.Path, Host: r.Host}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		p.peer = host + "|" + r.UserAgent()
		if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			p.bearer = Fingerprint(strings.TrimSpace(h[7:]))
		}
		orig := r
		r = r.WithContext(context.WithValue(r.Context(), pendingKey{}, p))
		// The mux records the matched pattern on the request it serves;
		// the layers outside (metrics) read it from theirs.
		defer func() { orig.Pattern = r.Pattern }()
		rw := &recorder{ResponseWriter: w}
		if r.Method == http.MethodPost && r.URL.Path == "/token" {
			if f, ok := rec.tokenFault(r); ok {
				rec.fireTokenFault(rw, r, p, f)
				rec.finish(p, rw)
				return
			}
		}
		defer rec.finish(p, rw)
		p.readRequest(r, true)
		next.ServeHTTP(rw, r)
		p.readRequest(r, false)
	})
}

// readRequest reads the non-secret parameters of r: before the handler
// only those in the URL (the body is the handler's to read), after it
// those the handler parsed.
func (p *pending) readRequest(r *http.Request, before bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.form == nil {
		p.form = map[string]string{}
	}
	src := r.URL.Query()
	if !before && r.Form != nil {
		src = r.Form
	}
	for _, k := range formKeys {
		if v := src.Get(k); v != "" {
			p.form[k] = v
		}
	}
	if id, _, ok := r.BasicAuth(); ok && p.form["client_id"] == "" {
		if u, err := url.QueryUnescape(id); err == nil {
			p.form["client_id"] = u
		}
	}
	// The sign-in form carries the authorization request in "next".
	if !before && p.path == "/login" && r.PostForm != nil {
		if u, err := url.Parse(r.PostForm.Get("next")); err == nil {
			if id := u.Query().Get("client_id"); id != "" {
				p.form["client_id"] = id
			}
		}
	}
}

// recorder captures the status, a few headers, and the OAuth error of an
// error answer (the first 4 KiB of a JSON error body; never a success body).
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	body   []byte
	sniff  bool
}

const sniffLimit = 4 << 10

func (w *recorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
		w.sniff = code >= 400 && strings.Contains(w.Header().Get("Content-Type"), "json")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.sniff && len(w.body) < sniffLimit {
		n := min(len(b), sniffLimit-len(w.body))
		w.body = append(w.body, b[:n]...)
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming answers (MCP's server-sent events) through.
func (w *recorder) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack is passed through for completeness.
func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("trace: hijack not supported")
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish completes the request's event from what the response said and
// records it.
func (rec *Recorder) finish(p *pending, w *recorder) {
	status := w.status
	if !w.wrote {
		status = http.StatusOK
	}
	h := w.Header()
	p.mu.Lock()
	p.ev.Status = status
	p.retryAfter = h.Get("Retry-After")
	p.challenge = h.Get("WWW-Authenticate")
	if len(w.body) > 0 {
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(w.body, &body) == nil {
			p.errCode, p.errDesc = body.Error, body.Description
		}
	}
	// An error sent back to the client's redirect URI: only the error
	// parameters are read from Location (a success carries the code).
	if loc := h.Get("Location"); loc != "" && status >= 300 && status < 400 {
		if u, err := url.Parse(loc); err == nil {
			q := u.Query()
			if e := q.Get("error"); e != "" {
				p.errCode, p.errDesc = e, q.Get("error_description")
			} else if q.Has("code") {
				p.location = true
			}
		}
	}
	n := p.note
	p.mu.Unlock()
	rec.record(p, n)
}
