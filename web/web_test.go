package web

import (
	"errors"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// hostile is a value that would break out of an attribute and run script if
// it were not escaped.
const hostile = `"><script>alert(1)</script>`

// hostileEscaped is how html/template writes hostile, both as element text
// and inside a quoted attribute value.
const hostileEscaped = `&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;`

// wantHeaders are the headers every page must carry, with their exact values.
var wantHeaders = map[string]string{
	"Content-Type":            "text/html; charset=utf-8",
	"X-Frame-Options":         "DENY",
	"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
	"Cache-Control":           "no-store",
}

func newTemplates(t *testing.T) *Templates {
	t.Helper()
	tm, err := New()
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	return tm
}

// tag returns the first complete start tag in body that begins with open
// (for example `<input`) and contains attr (for example `id="username"`),
// or "" if there is none. Escaped attribute values never contain a raw '>',
// so the tag ends at the first '>'.
func tag(body, open, attr string) string {
	for rest := body; ; {
		i := strings.Index(rest, open)
		if i < 0 {
			return ""
		}
		rest = rest[i:]
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			return ""
		}
		if t := rest[:end+1]; strings.Contains(t, attr) {
			return t
		}
		rest = rest[end+1:]
	}
}

// checkPage asserts what every rendered page shares: the status, every
// security header, the HTML5 frame, and the absence of script, inline style
// and anything loaded from elsewhere.
func checkPage(t *testing.T, rec *httptest.ResponseRecorder, wantStatus int) string {
	t.Helper()
	if rec.Code != wantStatus {
		t.Errorf("status = %d, want %d", rec.Code, wantStatus)
	}
	for k, want := range wantHeaders {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if got, want := rec.Header().Get("Content-Length"), strconv.Itoa(rec.Body.Len()); got != want {
		t.Errorf("header Content-Length = %q, want %q", got, want)
	}
	body := rec.Body.String()
	for _, want := range []string{
		"<!doctype html>\n<html lang=\"en\">",
		`<meta charset="utf-8">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<title>`,
		`<main>`,
		`</main>`,
		`<span class="product">tenantless</span>`,
		`<link rel="stylesheet" href="` + StaticPrefix + `style.css">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", " style=", "<style", "javascript:", " onclick=", " onload=", " src=", `href="http`, `href="//`} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	return body
}

func TestNew(t *testing.T) {
	if _, err := New(); err != nil {
		t.Fatalf("New() error = %v, want nil", err)
	}
}

func TestParseFails(t *testing.T) {
	good := func() fstest.MapFS {
		m := fstest.MapFS{}
		for _, name := range []string{"layout", "login", "consent", "account", "error", "trace"} {
			b, err := fs.ReadFile(files, "templates/"+name+".html")
			if err != nil {
				t.Fatalf("read %s: %v", name, err)
			}
			m["templates/"+name+".html"] = &fstest.MapFile{Data: b}
		}
		return m
	}
	if _, err := parse(good()); err != nil {
		t.Fatalf("parse(embedded copy) error = %v, want nil", err)
	}
	tests := []struct {
		name   string
		change func(fstest.MapFS)
	}{
		{"missing page", func(m fstest.MapFS) { delete(m, "templates/consent.html") }},
		{"missing layout", func(m fstest.MapFS) { delete(m, "templates/layout.html") }},
		{"syntax error", func(m fstest.MapFS) {
			m["templates/login.html"] = &fstest.MapFile{Data: []byte(`{{define "title"}}x{{end}}{{define "content"}}{{if}}{{end}}`)}
		}},
		{"no content block", func(m fstest.MapFS) {
			m["templates/error.html"] = &fstest.MapFile{Data: []byte(`{{define "title"}}x{{end}}`)}
		}},
		{"unknown field", func(m fstest.MapFS) {
			m["templates/error.html"] = &fstest.MapFile{Data: []byte(`{{define "title"}}x{{end}}{{define "content"}}{{.Nope}}{{end}}`)}
		}},
		{"escaping error", func(m fstest.MapFS) {
			// The branches leave the attribute in different contexts.
			m["templates/login.html"] = &fstest.MapFile{Data: []byte(`{{define "title"}}x{{end}}{{define "content"}}<a {{if .Error}}href="{{end}}x">{{end}}`)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good()
			tt.change(m)
			if _, err := parse(m); err == nil {
				t.Errorf("parse() error = nil, want an error")
			}
		})
	}
}

func TestSetPageHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	SetPageHeaders(h)
	for k, want := range wantHeaders {
		if got := h.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("header %s = %q, want [%q]", k, got, want)
		}
	}
	if strings.Contains(h.Get("Content-Security-Policy"), "form-action") {
		t.Errorf("Content-Security-Policy has form-action; it would block the redirect after the consent POST")
	}
}

func TestLogin(t *testing.T) {
	tm := newTemplates(t)
	tests := []struct {
		name       string
		status     int
		page       LoginPage
		wantStatus int
		want       []string // substrings the page must contain
		notWant    []string // substrings it must not contain
		focus      string   // id of the input with autofocus
	}{
		{
			name:       "first visit",
			status:     http.StatusOK,
			page:       LoginPage{Action: "/login", Next: "/authorize?client_id=abc&state=xyz", CSRFToken: "tok123"},
			wantStatus: http.StatusOK,
			want: []string{
				`<form method="post" action="/login">`,
				`<input type="hidden" name="csrf_token" value="tok123">`,
				`<input type="hidden" name="next" value="/authorize?client_id=abc&amp;state=xyz">`,
				`<label for="username">Username</label>`,
				`<label for="password">Password</label>`,
				`<button type="submit" id="sign-in" class="button primary">Sign in</button>`,
			},
			notWant: []string{`role="alert"`, "Sign in to continue to"},
			focus:   "username",
		},
		{
			name:   "failed attempt",
			status: http.StatusUnauthorized,
			page: LoginPage{
				Action: "/login", Next: "/authorize", CSRFToken: "tok", Username: "alice",
				Error: "Wrong username or password.",
			},
			wantStatus: http.StatusUnauthorized,
			want: []string{
				`<div class="notice error" role="alert"><p>Wrong username or password.</p></div>`,
				`name="username" value="alice"`,
			},
			focus: "password",
		},
		{
			name:       "client name",
			status:     http.StatusOK,
			page:       LoginPage{Action: "/login", ClientName: "Claude Code"},
			wantStatus: http.StatusOK,
			want:       []string{`Sign in to continue to <strong>Claude Code</strong>.`},
			focus:      "username",
		},
		{
			name:   "hostile values are escaped",
			status: http.StatusOK,
			page: LoginPage{
				Action: "/login", Next: hostile, CSRFToken: hostile, Username: hostile,
				Error: hostile, ClientName: hostile,
			},
			wantStatus: http.StatusOK,
			want: []string{
				`<input type="hidden" name="csrf_token" value="` + hostileEscaped + `">`,
				`<input type="hidden" name="next" value="` + hostileEscaped + `">`,
				`name="username" value="` + hostileEscaped + `"`,
				`<p>` + hostileEscaped + `</p>`,
				`<strong>` + hostileEscaped + `</strong>`,
			},
			focus: "password",
		},
		{
			name:       "javascript action is neutralised",
			status:     http.StatusOK,
			page:       LoginPage{Action: "javascript:alert(1)"},
			wantStatus: http.StatusOK,
			want:       []string{`<form method="post" action="#ZgotmplZ">`},
			focus:      "username",
		},
		{
			name:       "zero status means 200",
			page:       LoginPage{Action: "/login"},
			wantStatus: http.StatusOK,
			focus:      "username",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := tm.Login(rec, tt.status, tt.page); err != nil {
				t.Fatalf("Login() error = %v", err)
			}
			body := checkPage(t, rec, tt.wantStatus)

			user := tag(body, "<input", `id="username"`)
			for _, attr := range []string{`type="text"`, `name="username"`, `autocomplete="username"`, ` required`} {
				if !strings.Contains(user, attr) {
					t.Errorf("username input %s lacks %s", user, attr)
				}
			}
			pass := tag(body, "<input", `id="password"`)
			for _, attr := range []string{`type="password"`, `name="password"`, `autocomplete="current-password"`, ` required`} {
				if !strings.Contains(pass, attr) {
					t.Errorf("password input %s lacks %s", pass, attr)
				}
			}
			if strings.Contains(pass, "value=") {
				t.Errorf("password input %s has a value; it must never be echoed", pass)
			}
			for id, in := range map[string]string{"username": user, "password": pass} {
				if got, want := strings.Contains(in, " autofocus"), id == tt.focus; got != want {
					t.Errorf("%s input autofocus = %v, want %v", id, got, want)
				}
			}
			if got := strings.Count(body, "<form "); got != 1 {
				t.Errorf("page has %d forms, want 1", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("page contains %q", w)
				}
			}
		})
	}
}

func TestConsent(t *testing.T) {
	tm := newTemplates(t)
	base := func(change func(*ConsentPage)) ConsentPage {
		p := ConsentPage{
			Action:    "/authorize",
			CSRFToken: "csrf-abc",
			Hidden: []Field{
				{"response_type", "code"},
				{"client_id", "client-1"},
				{"redirect_uri", "https://app.example/cb"},
				{"state", "s1"},
			},
			Username:     "alice",
			ClientName:   "Example App",
			ClientID:     "client-1",
			RedirectHost: "app.example",
			Scopes:       []Scope{{"mcp:tools", "Call the MCP tools"}},
			Resources:    []Resource{{Name: "Weather", URL: "http://127.0.0.1:8080/mcp", Description: "Forecasts and alerts"}},
		}
		if change != nil {
			change(&p)
		}
		return p
	}
	const localhostWarning = "Every redirect URI of this application is on this computer (localhost). Only continue if you started this sign-in from an application you trust."
	tests := []struct {
		name    string
		status  int
		page    ConsentPage
		want    []string
		notWant []string
	}{
		{
			name:   "registered client",
			status: http.StatusOK,
			page:   base(nil),
			want: []string{
				`<h1>Allow access?</h1>`,
				`<strong>Example App</strong> wants to access`,
				`<code class="id">client-1</code>`,
				`You will be returned to <strong>app.example</strong>`,
				`Signed in as <strong>alice</strong>.`,
				`<li><input type="checkbox" name="granted_scope" value="mcp:tools" id="scope-0" checked> <label for="scope-0"><code>mcp:tools</code> <span class="description">Call the MCP tools</span></label></li>`,
				`<h2 id="resources">Access to</h2>`,
				`<legend>Requested permissions for Weather</legend>`,
				`<li><strong class="resource-name">Weather</strong> <code>http://127.0.0.1:8080/mcp</code> <span class="description">Forecasts and alerts</span></li>`,
				"<input type=\"hidden\" name=\"csrf_token\" value=\"csrf-abc\">\n" +
					"<input type=\"hidden\" name=\"response_type\" value=\"code\">\n" +
					"<input type=\"hidden\" name=\"client_id\" value=\"client-1\">\n" +
					"<input type=\"hidden\" name=\"redirect_uri\" value=\"https://app.example/cb\">\n" +
					"<input type=\"hidden\" name=\"state\" value=\"s1\">\n",
			},
			notWant: []string{localhostWarning, `role="alert"`, "Client ID document hosted at", "An unnamed application"},
		},
		{
			name:    "unnamed client",
			status:  http.StatusOK,
			page:    base(func(p *ConsentPage) { p.ClientName = "" }),
			want:    []string{`<strong>An unnamed application</strong> wants to access`, `<dd>An unnamed application</dd>`},
			notWant: []string{`<strong></strong>`},
		},
		{
			name:   "localhost only",
			status: http.StatusOK,
			page:   base(func(p *ConsentPage) { p.LocalhostOnly = true; p.RedirectHost = "localhost" }),
			want: []string{
				`<div class="notice warning" role="alert">`,
				localhostWarning,
				`You will be returned to <strong>localhost</strong>`,
			},
		},
		{
			name:   "client ID metadata document",
			status: http.StatusOK,
			page: base(func(p *ConsentPage) {
				p.ClientID = "https://vscode.dev/oauth/client-metadata.json"
				p.ClientIDHost = "vscode.dev"
			}),
			want: []string{
				`Client ID document hosted at <strong>vscode.dev</strong>`,
				`<code class="id">https://vscode.dev/oauth/client-metadata.json</code>`,
			},
			notWant: []string{"verified by", localhostWarning},
		},
		{
			name:    "no scopes and no resources",
			status:  http.StatusOK,
			page:    base(func(p *ConsentPage) { p.Scopes = nil; p.Resources = nil }),
			want:    []string{`No specific permissions (scopes) were requested.`},
			notWant: []string{`<ul class="scopes">`, `<h2 id="resources">`},
		},
		{
			name:   "scope without description",
			status: http.StatusOK,
			page:   base(func(p *ConsentPage) { p.Scopes = []Scope{{"openid", ""}, {"mcp", "Use tools"}} }),
			want: []string{
				`<label for="scope-0"><code>openid</code></label></li>`,
				`<label for="scope-1"><code>mcp</code> <span class="description">Use tools</span></label></li>`,
			},
		},
		{
			name:   "hostile values are escaped",
			status: http.StatusOK,
			page: base(func(p *ConsentPage) {
				p.CSRFToken = hostile
				p.Hidden = []Field{{"state", hostile}, {hostile, "v"}}
				p.ClientName = hostile
				p.ClientID = hostile
				p.ClientIDHost = hostile
				p.RedirectHost = hostile
				p.Username = hostile
				p.Scopes = []Scope{{hostile, hostile}}
				p.Resources = []Resource{{Name: hostile, URL: hostile, Description: hostile}}
			}),
			want: []string{
				`<input type="hidden" name="csrf_token" value="` + hostileEscaped + `">`,
				`<input type="hidden" name="state" value="` + hostileEscaped + `">`,
				`<input type="hidden" name="` + hostileEscaped + `" value="v">`,
				`<strong>` + hostileEscaped + `</strong> wants to access`,
				`<code class="id">` + hostileEscaped + `</code>`,
				`Client ID document hosted at <strong>` + hostileEscaped + `</strong>`,
				`You will be returned to <strong>` + hostileEscaped + `</strong>`,
				`Signed in as <strong>` + hostileEscaped + `</strong>`,
				`<li><strong class="resource-name">` + hostileEscaped + `</strong> <code>` + hostileEscaped + `</code> <span class="description">` + hostileEscaped + `</span></li>`,
				`value="` + hostileEscaped + `" id="scope-0" checked> <label for="scope-0"><code>` + hostileEscaped + `</code> <span class="description">` + hostileEscaped + `</span></label></li>`,
			},
		},
		{
			name:   "reserved hidden names are dropped",
			status: http.StatusOK,
			page: base(func(p *ConsentPage) {
				p.Hidden = []Field{{"decision", "allow"}, {"csrf_token", "attacker"}, {"granted_scope", "admin"}, {"state", "s1"}}
			}),
			want: []string{
				"<input type=\"hidden\" name=\"csrf_token\" value=\"csrf-abc\">\n" +
					"<input type=\"hidden\" name=\"state\" value=\"s1\">\n<fieldset class=\"permissions\">",
			},
			notWant: []string{`value="attacker"`, `<input type="hidden" name="decision"`, `value="admin"`},
		},
		{
			name:   "status passed through",
			status: http.StatusBadRequest,
			page:   base(nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := tm.Consent(rec, tt.status, tt.page); err != nil {
				t.Fatalf("Consent() error = %v", err)
			}
			body := checkPage(t, rec, tt.status)

			if got := strings.Count(body, "<form "); got != 1 {
				t.Errorf("page has %d forms, want 1", got)
			}
			for _, w := range []string{
				`<form method="post" action="/authorize">`,
				`<button type="submit" name="decision" value="allow" id="allow" class="button primary">Allow</button>`,
				`<button type="submit" name="decision" value="deny" id="deny" class="button secondary">Deny</button>`,
			} {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if got := strings.Count(body, `name="decision"`); got != 2 {
				t.Errorf("page has %d decision inputs, want 2 (the buttons)", got)
			}
			if got := strings.Count(body, `name="csrf_token"`); got != 1 {
				t.Errorf("page has %d csrf_token inputs, want 1", got)
			}
			// Every hidden input sits inside the form, before the buttons.
			form := body[strings.Index(body, "<form "):strings.Index(body, "</form>")]
			if got, want := strings.Count(form, `<input type="hidden"`), strings.Count(body, `<input type="hidden"`); got != want {
				t.Errorf("form holds %d of %d hidden inputs", got, want)
			}
			if strings.Index(form, `id="allow"`) < strings.LastIndex(form, `<input type="hidden"`) {
				t.Errorf("a hidden input follows the buttons")
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("page contains %q", w)
				}
			}
		})
	}
}

func TestError(t *testing.T) {
	tm := newTemplates(t)
	tests := []struct {
		name    string
		status  int
		page    ErrorPage
		want    []string
		notWant []string
	}{
		{
			name:   "all fields",
			status: http.StatusBadRequest,
			page: ErrorPage{
				Title:   "Unknown application",
				Message: "The application that sent you here is not registered.",
				Code:    "invalid_client",
				Hint:    "Go back to the application and connect again.",
			},
			want: []string{
				`<title>Unknown application · tenantless</title>`,
				`<h1>Unknown application</h1>`,
				`<p class="lead">The application that sent you here is not registered.</p>`,
				`<p class="hint">Go back to the application and connect again.</p>`,
				`Error code: <code>invalid_client</code>`,
			},
		},
		{
			name:    "message only",
			status:  http.StatusNotFound,
			page:    ErrorPage{Title: "Not found", Message: "There is nothing here."},
			want:    []string{`<h1>Not found</h1>`, `<p class="lead">There is nothing here.</p>`},
			notWant: []string{"Error code", `class="hint"`},
		},
		{
			name:   "empty title",
			status: http.StatusInternalServerError,
			page:   ErrorPage{Message: "Please try again."},
			want:   []string{`<title>Something went wrong · tenantless</title>`, `<h1>Something went wrong</h1>`},
		},
		{
			name:   "hostile values are escaped",
			status: http.StatusBadRequest,
			page:   ErrorPage{Title: hostile, Message: hostile, Code: hostile, Hint: hostile},
			want: []string{
				`<title>` + hostileEscaped + ` · tenantless</title>`,
				`<h1>` + hostileEscaped + `</h1>`,
				`<p class="lead">` + hostileEscaped + `</p>`,
				`<p class="hint">` + hostileEscaped + `</p>`,
				`<code>` + hostileEscaped + `</code>`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := tm.Error(rec, tt.status, tt.page); err != nil {
				t.Fatalf("Error() error = %v", err)
			}
			body := checkPage(t, rec, tt.status)
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("page contains %q", w)
				}
			}
		})
	}
}

// TestRenderFailureWritesNothing checks that a template error leaves the
// response untouched, so the caller can still answer 500.
func TestRenderFailureWritesNothing(t *testing.T) {
	broken := template.Must(template.New("login").Funcs(template.FuncMap{
		"fail": func() (string, error) { return "", errors.New("boom") },
	}).Parse(`{{define "layout"}}<p>half a page{{fail}}</p>{{end}}`))
	tm := &Templates{login: broken, consent: broken, errorPage: broken}
	tests := []struct {
		name   string
		render func(http.ResponseWriter) error
	}{
		{"login", func(w http.ResponseWriter) error { return tm.Login(w, http.StatusOK, LoginPage{}) }},
		{"consent", func(w http.ResponseWriter) error { return tm.Consent(w, http.StatusOK, ConsentPage{}) }},
		{"error", func(w http.ResponseWriter) error { return tm.Error(w, http.StatusBadRequest, ErrorPage{}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := tt.render(rec); err == nil {
				t.Fatalf("render error = nil, want an error")
			}
			if rec.Body.Len() != 0 {
				t.Errorf("body = %q, want empty", rec.Body.String())
			}
			if len(rec.Header()) != 0 {
				t.Errorf("headers = %v, want none", rec.Header())
			}
			if res := rec.Result(); res.StatusCode != http.StatusOK {
				// The recorder reports 200 when WriteHeader was never called.
				t.Errorf("status = %d, want WriteHeader not called", res.StatusCode)
			}
		})
	}
}

func TestStatic(t *testing.T) {
	css, err := fs.ReadFile(Static(), "style.css")
	if err != nil {
		t.Fatalf("read style.css from Static(): %v", err)
	}
	for _, want := range []string{"prefers-color-scheme: dark", ":focus-visible", ".primary", ".secondary", ".warning", "max-width: 28rem"} {
		if !strings.Contains(string(css), want) {
			t.Errorf("style.css lacks %q", want)
		}
	}
	for _, bad := range []string{"@import", "url(", "@font-face"} {
		if strings.Contains(string(css), bad) {
			t.Errorf("style.css contains %q; it must not load anything", bad)
		}
	}
	if len(css) > 8<<10 {
		t.Errorf("style.css is %d bytes, want a few KB", len(css))
	}
}

func TestStaticHandler(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET "+StaticPrefix, StaticHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		name        string
		path        string
		wantStatus  int
		wantType    string
		wantNosniff bool
	}{
		{"stylesheet", StaticPrefix + "style.css", http.StatusOK, "text/css; charset=utf-8", true},
		{"missing file", StaticPrefix + "nope.css", http.StatusNotFound, "", true},
		{"no directory listing", StaticPrefix, http.StatusNotFound, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := srv.Client().Get(srv.URL + tt.path)
			if err != nil {
				t.Fatalf("GET %s: %v", tt.path, err)
			}
			defer res.Body.Close()
			if _, err := io.Copy(io.Discard, res.Body); err != nil {
				t.Fatalf("read body: %v", err)
			}
			if res.StatusCode != tt.wantStatus {
				t.Errorf("GET %s status = %d, want %d", tt.path, res.StatusCode, tt.wantStatus)
			}
			if tt.wantType != "" {
				if got := res.Header.Get("Content-Type"); got != tt.wantType {
					t.Errorf("GET %s Content-Type = %q, want %q", tt.path, got, tt.wantType)
				}
			}
			if tt.wantNosniff {
				if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("GET %s X-Content-Type-Options = %q, want nosniff", tt.path, got)
				}
			}
		})
	}
}

func TestAccount(t *testing.T) {
	tm, err := New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		page    AccountPage
		want    []string
		notWant []string
	}{
		{"no applications", AccountPage{Username: "alice", CSRFToken: "c1", RevokeAction: "/account/revoke", LogoutAction: "/logout"},
			[]string{"You have not authorized any application yet.", `<form method="post" action="/logout" class="signout">`, `<input type="hidden" name="csrf_token" value="c1">`},
			[]string{`name="client_id"`}},
		{"two applications", AccountPage{Username: "alice", CSRFToken: "c1", RevokeAction: "/account/revoke", LogoutAction: "/logout", Notice: "Revoked.",
			Apps: []AccountApp{
				{ClientName: "VS Code", ClientID: "https://vscode.dev/oauth/client-metadata.json", ClientIDHost: "vscode.dev", Scopes: []string{"weather:read"}, GrantedAt: "2026-11-25 10:00", ActiveTokens: 2},
				{ClientID: "dcr_x", Scopes: nil},
			}},
			[]string{`<button type="submit" name="client_id" value="https://vscode.dev/oauth/client-metadata.json" class="button secondary">Revoke</button>`,
				`<button type="submit" name="client_id" value="dcr_x" class="button secondary">Revoke</button>`,
				"Client ID document hosted at <strong>vscode.dev</strong>", "An unnamed application", `role="status"`, "never"},
			nil},
		{"hostile", AccountPage{Username: hostile, Apps: []AccountApp{{ClientName: hostile, ClientID: hostile}}},
			[]string{hostileEscaped}, []string{hostile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := tm.Account(rec, 0, tt.page); err != nil {
				t.Fatal(err)
			}
			body := checkPage(t, rec, 200)
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("page contains %q", w)
				}
			}
		})
	}
}
