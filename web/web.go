package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
)

//go:embed templates/*.html static/*
var files embed.FS

// StaticPrefix is the URL path under which the assets in [Static] are served;
// pages link their stylesheet as StaticPrefix + "style.css".
const StaticPrefix = "/static/"

// contentSecurityPolicy allows nothing but the stylesheet from this origin
// (and data: images, for the empty favicon). It deliberately has no
// form-action directive: Chrome applies form-action to the redirect that
// follows the consent POST, which would block the redirect back to the client.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"

// reservedFields are the consent form's own input names. A hidden field with
// one of these names would precede the real token or the pressed button in
// the posted form, and r.FormValue returns the first value.
var reservedFields = map[string]bool{"csrf_token": true, "decision": true, "granted_scope": true}

// Templates holds the parsed pages. It is safe for concurrent use.
type Templates struct {
	login     *template.Template
	consent   *template.Template
	errorPage *template.Template
	account   *template.Template
	trace     *template.Template
}

// New parses every embedded template once; it fails if one is missing or
// broken.
func New() (*Templates, error) {
	return parse(files)
}

// page describes one page: its template file and sample data that exercises
// every branch, so that parse finds escaping and field errors at start-up.
type page struct {
	name    string
	dst     **template.Template
	samples []any
}

func parse(fsys fs.FS) (*Templates, error) {
	var t Templates
	pages := []page{
		{"login", &t.login, []any{
			LoginPage{},
			LoginPage{Action: "/login", Next: "/", CSRFToken: "t", Username: "u", Error: "e", ClientName: "c"},
		}},
		{"consent", &t.consent, []any{
			ConsentPage{},
			ConsentPage{
				Action: "/authorize", CSRFToken: "t", Hidden: []Field{{"n", "v"}}, Username: "u",
				ClientName: "c", ClientID: "https://c.example/id", ClientIDHost: "c.example",
				RedirectHost: "localhost", LocalhostOnly: true,
				Scopes: []Scope{{"s", "d"}, {"s", ""}}, Resources: []Resource{{Name: "n", URL: "https://r.example/mcp", Description: "d"}, {URL: "https://r2.example/mcp"}},
			},
		}},
		{"account", &t.account, []any{
			AccountPage{},
			AccountPage{Username: "u", CSRFToken: "t", Notice: "n", Apps: []AccountApp{
				{ClientName: "c", ClientID: "https://c.example/id", ClientIDHost: "c.example", Scopes: []string{"s"},
					Resources: []string{"https://r.example/mcp"}, GrantedAt: "g", LastUsedAt: "l", ActiveTokens: 2},
				{ClientID: "x"},
			}},
		}},
		{"trace", &t.trace, []any{
			TracePage{},
			TracePage{Username: "u", CSRFToken: "t", FaultAction: "/trace/fault", EventsURL: "/trace/events?after=1",
				Client: "c", User: "u", Clients: []TraceOption{{"c", "C"}}, Users: []string{"u"}, Scopes: []string{"s"},
				Notice: "n", Error: true, Size: 1, Attempts: []TraceAttempt{
					{ID: 1, ClientID: "c", ClientName: "C", User: "u", State: "open", Mark: "…", Start: "s",
						Events: []TraceEvent{{Seq: 1, Time: "t", Route: "GET /mcp", Step: "s", Status: 401, Outcome: "ok", Mark: "✓", Reason: "r", Hint: "h", Token: "f"}}},
					{ID: 2},
				}},
		}},
		{"error", &t.errorPage, []any{
			ErrorPage{},
			ErrorPage{Title: "t", Message: "m", Code: "c", Hint: "h"},
		}},
	}
	for _, p := range pages {
		tmpl, err := parsePage(fsys, p.name, p.samples)
		if err != nil {
			return nil, err
		}
		*p.dst = tmpl
	}
	return &t, nil
}

// parsePage parses the shared layout with one page's file. The page defines
// "title" and "content"; the layout wraps them.
func parsePage(fsys fs.FS, name string, samples []any) (*template.Template, error) {
	funcs := template.FuncMap{
		"asset": func(file string) string { return StaticPrefix + file },
		"faultData": func(p TracePage, clientID string) faultForm {
			return faultForm{Action: p.FaultAction, CSRFToken: p.CSRFToken, ClientID: clientID, Scopes: p.Scopes, Back: p.Client}
		},
	}
	tmpl, err := template.New(name).Funcs(funcs).ParseFS(fsys, "templates/layout.html", "templates/"+name+".html")
	if err != nil {
		return nil, fmt.Errorf("parse %s page: %w", name, err)
	}
	for _, def := range []string{"layout", "title", "content"} {
		if tmpl.Lookup(def) == nil {
			return nil, fmt.Errorf("parse %s page: no %q template", name, def)
		}
	}
	// html/template escapes on first execution; do it now so a context
	// error fails New instead of a user's request.
	for _, data := range samples {
		if err := tmpl.ExecuteTemplate(io.Discard, "layout", data); err != nil {
			return nil, fmt.Errorf("check %s page: %w", name, err)
		}
	}
	return tmpl, nil
}

// Account renders the account page with the given HTTP status (zero
// means 200), like Login.
func (t *Templates) Account(w http.ResponseWriter, status int, p AccountPage) error {
	return render(w, t.account, status, p)
}

// Login renders the sign-in page with the given HTTP status (zero means
// 200), after calling [SetPageHeaders]. It renders into a buffer first, so
// on a template error nothing has been written and the caller can still
// answer 500. An error from writing the body (the client went away) is
// returned too, but by then the status has been sent.
func (t *Templates) Login(w http.ResponseWriter, status int, p LoginPage) error {
	return render(w, t.login, status, p)
}

// Consent renders the consent page with the given HTTP status (zero means
// 200), after calling [SetPageHeaders]. Hidden fields named "csrf_token" or
// "decision" are dropped (see [ConsentPage]). Errors behave as for
// [Templates.Login].
func (t *Templates) Consent(w http.ResponseWriter, status int, p ConsentPage) error {
	hidden := make([]Field, 0, len(p.Hidden))
	for _, f := range p.Hidden {
		if !reservedFields[f.Name] {
			hidden = append(hidden, f)
		}
	}
	p.Hidden = hidden
	return render(w, t.consent, status, p)
}

// Error renders the error page with the given HTTP status (zero means 200),
// after calling [SetPageHeaders]. Errors behave as for [Templates.Login].
func (t *Templates) Error(w http.ResponseWriter, status int, p ErrorPage) error {
	return render(w, t.errorPage, status, p)
}

// faultForm is the data of the trace page's fault forms for one client.
type faultForm struct {
	Action, CSRFToken, ClientID string
	Scopes                      []string
	// Back is the client filter to return to after the post.
	Back string
}

// traceCSP is the page policy plus this origin's script (the trace's live
// updates) and its server-sent events.
const traceCSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"

// Trace renders the auth trace page with the given HTTP status (zero
// means 200), like Login, but with a policy that allows the page's own
// script (static/trace.js) and its event stream.
func (t *Templates) Trace(w http.ResponseWriter, status int, p TracePage) error {
	return renderCSP(w, t.trace, status, p, traceCSP)
}

func render(w http.ResponseWriter, tmpl *template.Template, status int, data any) error {
	return renderCSP(w, tmpl, status, data, contentSecurityPolicy)
}

func renderCSP(w http.ResponseWriter, tmpl *template.Template, status int, data any, csp string) error {
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("render %s page: %w", tmpl.Name(), err)
	}
	if status == 0 {
		status = http.StatusOK
	}
	h := w.Header()
	SetPageHeaders(h)
	h.Set("Content-Security-Policy", csp)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write %s page: %w", tmpl.Name(), err)
	}
	return nil
}

// SetPageHeaders sets the security headers every HTML page carries:
// Content-Type text/html; charset=utf-8, X-Frame-Options: DENY, a
// Content-Security-Policy that allows only same-origin stylesheets and
// images (and data: images) and no framing, X-Content-Type-Options: nosniff,
// Referrer-Policy: no-referrer and Cache-Control: no-store.
//
// Handlers that write their own plain HTML page (the 500 fallback) should
// call it too. The policy has no form-action directive on purpose: Chrome
// applies form-action to the redirect that follows a consent POST, which
// would block the redirect back to the client.
func SetPageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// Static returns the embedded static assets (at least "style.css"), to be
// served under [StaticPrefix].
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		// fs.Sub fails only for an invalid directory name, and "static" is
		// a constant valid one.
		panic("web: " + err.Error())
	}
	return sub
}

// StaticHandler serves [Static] under [StaticPrefix]. Mount it as
//
//	mux.Handle("GET "+web.StaticPrefix, web.StaticHandler())
//
// It answers 404 for directories rather than listing them, and sets
// X-Content-Type-Options: nosniff.
func StaticHandler() http.Handler {
	files := http.StripPrefix(StaticPrefix, http.FileServerFS(Static()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}
