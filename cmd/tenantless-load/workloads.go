package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"

	"golang.org/x/oauth2"
)

// workload is one kind of operation. prepare runs once per run, before
// the workers; worker runs once per worker and returns the operation the
// worker repeats, with the worker's own state (cookies, token chain, MCP
// session) in its closure.
type workload struct {
	prepare func(ctx context.Context, t *target) error
	worker  func(ctx context.Context, t *target) (func(context.Context) error, error)
}

// allWorkloads is the order "all" runs them in.
// flow-login comes last: its concurrent password hashes leave the server's
// heap large for a while, which would show in the next workload's RSS.
var allWorkloads = []string{"flow", "refresh", "register", "introspect", "tools-call", "metadata", "flow-login"}

var workloads = map[string]workload{
	"flow": {
		prepare: ensureConsent,
		worker: func(ctx context.Context, t *target) (func(context.Context) error, error) {
			c := t.client(t.signedInJar())
			return func(ctx context.Context) error {
				_, err := t.flow(ctx, c)
				return err
			}, nil
		},
	},
	"flow-login": {
		prepare: ensureConsent,
		worker: func(_ context.Context, t *target) (func(context.Context) error, error) {
			return func(ctx context.Context) error {
				jar, _ := cookiejar.New(nil)
				c := t.client(jar)
				v := oauth2.GenerateVerifier()
				res, err := t.signIn(ctx, c, v)
				if err != nil {
					return err
				}
				code, err := codeFrom(res)
				if err != nil {
					return err
				}
				_, err = t.exchange(ctx, c, code, v)
				return err
			}, nil
		},
	},
	"refresh": {
		prepare: ensureConsent,
		worker: func(ctx context.Context, t *target) (func(context.Context) error, error) {
			c := t.client(t.signedInJar())
			tok, err := t.flow(ctx, c)
			if err != nil {
				return nil, err
			}
			rt := tok.RefreshToken
			if rt == "" {
				return nil, errors.New("the token response has no refresh token")
			}
			return func(ctx context.Context) error {
				tok, err := t.postForm(ctx, c, "token", "/token", url.Values{
					"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {t.publicID},
				}, "", "")
				if err != nil {
					return err
				}
				if tok.RefreshToken == "" {
					return &opError{step: "token", kind: "no refresh token"}
				}
				rt = tok.RefreshToken
				return nil
			}, nil
		},
	},
	"register": {
		worker: func(_ context.Context, t *target) (func(context.Context) error, error) {
			c := t.client(nil)
			return func(ctx context.Context) error {
				_, err := t.register(ctx, c, "none")
				return err
			}, nil
		},
	},
	"introspect": {
		prepare: ensureIntrospection,
		worker: func(_ context.Context, t *target) (func(context.Context) error, error) {
			c := t.client(nil)
			form := url.Values{"token": {t.introspected}}
			return func(ctx context.Context) error {
				r, err := t.postForm(ctx, c, "introspect", "/introspect", form, t.confID, t.confSecret)
				if err != nil {
					return err
				}
				if r.Active == nil || !*r.Active {
					return &opError{step: "introspect", kind: "token not active"}
				}
				return nil
			}, nil
		},
	},
	"tools-call": {
		prepare: ensureConsent,
		worker: func(ctx context.Context, t *target) (func(context.Context) error, error) {
			c := t.client(t.signedInJar())
			tok, err := t.flow(ctx, c)
			if err != nil {
				return nil, err
			}
			session, err := t.mcpSession(ctx, c, tok.AccessToken)
			if err != nil {
				return nil, err
			}
			id := 2
			return func(ctx context.Context) error {
				id++
				body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"get_forecast","arguments":{"latitude":47.6062,"longitude":-122.3321}}}`, id)
				res, err := t.mcpPost(ctx, c, tok.AccessToken, session, body)
				if err != nil {
					return err
				}
				return checkToolResult(res, id)
			}, nil
		},
	},
	"metadata": {
		worker: func(_ context.Context, t *target) (func(context.Context) error, error) {
			c := t.client(nil)
			return func(ctx context.Context) error {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/.well-known/oauth-authorization-server", nil)
				if err != nil {
					return err
				}
				_, err = t.do(c, "metadata", req, http.StatusOK)
				return err
			}, nil
		},
	},
}

func ensureConsent(ctx context.Context, t *target) error       { return t.ensureConsent(ctx) }
func ensureIntrospection(ctx context.Context, t *target) error { return t.ensureIntrospection(ctx) }

// opError is a failed operation: the step that failed and how.
type opError struct {
	step   string
	status int
	kind   string // an OAuth error code, or what was wrong
	err    error
}

func (e *opError) Error() string {
	s := e.step + ":"
	if e.status != 0 {
		s += fmt.Sprintf(" status %d", e.status)
	}
	if e.kind != "" {
		s += " " + e.kind
	}
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *opError) Unwrap() error { return e.err }

// errorKind groups errors for the report: the step with the HTTP status
// and OAuth error, or the kind of transport failure.
func errorKind(err error) string {
	var oe *opError
	if !errors.As(err, &oe) {
		return "other: " + err.Error()
	}
	if oe.err == nil {
		return strings.TrimSuffix(oe.Error(), ":")
	}
	var ne net.Error
	switch {
	case errors.Is(oe.err, context.DeadlineExceeded), errors.As(oe.err, &ne) && ne.Timeout():
		return oe.step + ": timeout"
	case errors.Is(oe.err, syscall.ECONNREFUSED):
		return oe.step + ": connection refused"
	case errors.Is(oe.err, syscall.ECONNRESET), errors.Is(oe.err, io.EOF), errors.Is(oe.err, io.ErrUnexpectedEOF):
		return oe.step + ": connection reset"
	case errors.Is(oe.err, syscall.EADDRNOTAVAIL):
		return oe.step + ": out of local ports"
	case errors.Is(oe.err, errNotLoopback):
		return oe.step + ": not loopback"
	case errors.Is(oe.err, os.ErrDeadlineExceeded):
		return oe.step + ": timeout"
	}
	return oe.step + ": " + oe.err.Error()
}

// reply is a response read to its end.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends req and reads the whole answer (so the connection is reused);
// a status other than want is an error carrying the OAuth error code.
func (t *target) do(c *http.Client, step string, req *http.Request, want int) (reply, error) {
	res, err := c.Do(req)
	if err != nil {
		return reply{}, &opError{step: step, err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return reply{}, &opError{step: step, err: err}
	}
	r := reply{status: res.StatusCode, header: res.Header, body: body}
	if res.StatusCode != want {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		return r, &opError{step: step, status: res.StatusCode, kind: e.Error}
	}
	return r, nil
}

// authorizeURL is an authorization request of the public client for
// weather:read at the MCP resource, with an S256 challenge of verifier.
func (t *target) authorizeURL(verifier string) string {
	return t.base + "/authorize?" + url.Values{
		"response_type":         {"code"},
		"client_id":             {t.publicID},
		"redirect_uri":          {"http://127.0.0.1:40000/callback"},
		"scope":                 {"weather:read"},
		"state":                 {"tenantless-load-state"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
		"resource":              {t.resource},
	}.Encode()
}

func (t *target) get(ctx context.Context, c *http.Client, step, u string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return reply{}, &opError{step: step, err: err}
	}
	res, err := c.Do(req)
	if err != nil {
		return reply{}, &opError{step: step, err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return reply{}, &opError{step: step, err: err}
	}
	return reply{status: res.StatusCode, header: res.Header, body: body}, nil
}

// postPage submits a browser form as a same-origin page does.
func (t *target) postPage(ctx context.Context, c *http.Client, step, path string, form url.Values) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return reply{}, &opError{step: step, err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", t.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return t.do(c, step, req, http.StatusSeeOther)
}

var formInput = regexp.MustCompile(`<input type="(?:hidden|checkbox)" name="([^"]+)" value="([^"]*)"`)

// pageForm returns the hidden and ticked fields of tenantless's sign-in
// or consent page.
func pageForm(body []byte) url.Values {
	v := url.Values{}
	for _, m := range formInput.FindAllSubmatch(body, -1) {
		v.Add(html.UnescapeString(string(m[1])), html.UnescapeString(string(m[2])))
	}
	return v
}

// signIn plays a browser at an authorization request: the login page, the
// password, then the authorization request again. It returns that last
// answer: the consent page (200) or the redirect with a code (303).
func (t *target) signIn(ctx context.Context, c *http.Client, verifier string) (reply, error) {
	page, err := t.get(ctx, c, "login page", t.authorizeURL(verifier))
	if err != nil {
		return reply{}, err
	}
	if page.status != http.StatusOK || !bytes.Contains(page.body, []byte(`name="password"`)) {
		return reply{}, &opError{step: "login page", status: page.status, kind: "no sign-in form"}
	}
	form := pageForm(page.body)
	form.Set("username", t.cfg.user)
	form.Set("password", t.cfg.password)
	res, err := t.postPage(ctx, c, "login", "/login", form)
	if err != nil {
		if oe := (*opError)(nil); errors.As(err, &oe) && oe.status == http.StatusUnauthorized {
			oe.kind = "wrong username or password (set -password or TENANTLESS_ADMIN_PASSWORD)"
		}
		return reply{}, err
	}
	next, err := url.Parse(res.header.Get("Location"))
	if err != nil {
		return reply{}, &opError{step: "login", err: err}
	}
	return t.get(ctx, c, "authorize", t.base+next.RequestURI())
}

// codeFrom reads the code from an authorization response redirect.
func codeFrom(r reply) (string, error) {
	if r.status != http.StatusSeeOther {
		return "", &opError{step: "authorize", status: r.status, kind: "no redirect"}
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		return "", &opError{step: "authorize", err: err}
	}
	if e := loc.Query().Get("error"); e != "" {
		return "", &opError{step: "authorize", status: r.status, kind: e}
	}
	code := loc.Query().Get("code")
	if code == "" {
		return "", &opError{step: "authorize", status: r.status, kind: "no code"}
	}
	return code, nil
}

// tokenReply is a token or introspection response.
type tokenReply struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Active       *bool  `json:"active"`
}

func (t *target) postForm(ctx context.Context, c *http.Client, step, path string, form url.Values, user, pass string) (tokenReply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return tokenReply{}, &opError{step: step, err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	r, err := t.do(c, step, req, http.StatusOK)
	if err != nil {
		return tokenReply{}, err
	}
	var tr tokenReply
	if err := json.Unmarshal(r.body, &tr); err != nil {
		return tokenReply{}, &opError{step: step, err: err}
	}
	return tr, nil
}

func (t *target) exchange(ctx context.Context, c *http.Client, code, verifier string) (tokenReply, error) {
	tok, err := t.postForm(ctx, c, "token", "/token", url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"code_verifier": {verifier},
		"redirect_uri":  {"http://127.0.0.1:40000/callback"},
		"client_id":     {t.publicID},
		"resource":      {t.resource},
	}, "", "")
	if err == nil && tok.AccessToken == "" {
		err = &opError{step: "token", kind: "no access token"}
	}
	return tok, err
}

// flow is one authorization of a signed-in browser with remembered
// consent: /authorize answers with a code, /token redeems it.
func (t *target) flow(ctx context.Context, c *http.Client) (tokenReply, error) {
	v := oauth2.GenerateVerifier()
	r, err := t.get(ctx, c, "authorize", t.authorizeURL(v))
	if err != nil {
		return tokenReply{}, err
	}
	code, err := codeFrom(r)
	if err != nil {
		return tokenReply{}, err
	}
	return t.exchange(ctx, c, code, v)
}

type registration struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// register registers a client with RFC 7591: public ("none") or
// confidential ("client_secret_basic").
func (t *target) register(ctx context.Context, c *http.Client, authMethod string) (registration, error) {
	body := fmt.Sprintf(`{"client_name":"tenantless-load","redirect_uris":[%q],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":%q,"application_type":"native"}`,
		redirectURI, authMethod)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+"/register", strings.NewReader(body))
	if err != nil {
		return registration{}, &opError{step: "register", err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	r, err := t.do(c, "register", req, http.StatusCreated)
	if err != nil {
		return registration{}, err
	}
	var reg registration
	if err := json.Unmarshal(r.body, &reg); err != nil || reg.ClientID == "" {
		return registration{}, &opError{step: "register", kind: "no client_id in the response"}
	}
	return reg, nil
}

// ensureConsent registers the public client and, once, signs in and
// allows it, so that every later authorization request of a signed-in
// worker is answered with a code at once.
func (t *target) ensureConsent(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.publicID == "" {
		reg, err := t.register(ctx, t.client(nil), "none")
		if err != nil {
			return fmt.Errorf("register the load client (is registration open?): %w", err)
		}
		t.publicID = reg.ClientID
	}
	if t.consented {
		return nil
	}
	jar, _ := cookiejar.New(nil)
	c := t.client(jar)
	r, err := t.signIn(ctx, c, oauth2.GenerateVerifier())
	if err != nil {
		return err
	}
	if r.status == http.StatusOK {
		form := pageForm(r.body)
		form.Set("decision", "allow")
		if r, err = t.postPage(ctx, c, "consent", "/authorize", form); err != nil {
			return err
		}
	}
	if _, err := codeFrom(r); err != nil {
		return err
	}
	u, _ := url.Parse(t.base)
	t.session = jar.Cookies(u)
	t.consented = true
	return nil
}

// signedInJar returns a cookie jar holding the session of the sign-in
// ensureConsent made: every worker is a tab of one signed-in browser, so
// the password is hashed once, not once per worker.
func (t *target) signedInJar() http.CookieJar {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(t.base)
	jar.SetCookies(u, t.session)
	return jar
}

// ensureIntrospection makes the confidential client (registered with DCR
// unless given with -client-id) and the access token it introspects.
func (t *target) ensureIntrospection(ctx context.Context) error {
	if err := t.ensureConsent(ctx); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.introspected != "" {
		return nil
	}
	t.confID, t.confSecret = t.cfg.clientID, t.cfg.clientSecret
	if t.confID == "" {
		reg, err := t.register(ctx, t.client(nil), "client_secret_basic")
		if err != nil {
			return fmt.Errorf("register a confidential client: %w", err)
		}
		t.confID, t.confSecret = reg.ClientID, reg.ClientSecret
	}
	tok, err := t.flow(ctx, t.client(t.signedInJar()))
	if err != nil {
		return err
	}
	t.introspected = tok.AccessToken
	return nil
}

// mcpPost sends one JSON-RPC message to the MCP endpoint.
func (t *target) mcpPost(ctx context.Context, c *http.Client, token, session, body string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.resource, strings.NewReader(body))
	if err != nil {
		return reply{}, &opError{step: "mcp", err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	res, err := c.Do(req)
	if err != nil {
		return reply{}, &opError{step: "mcp", err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return reply{}, &opError{step: "mcp", err: err}
	}
	r := reply{status: res.StatusCode, header: res.Header, body: b}
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusAccepted {
		return r, &opError{step: "mcp", status: res.StatusCode}
	}
	return r, nil
}

// mcpSession opens an MCP session: initialize, then the initialized
// notification. It returns the Mcp-Session-Id.
func (t *target) mcpSession(ctx context.Context, c *http.Client, token string) (string, error) {
	r, err := t.mcpPost(ctx, c, token, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"tenantless-load","version":"0"}}}`)
	if err != nil {
		return "", err
	}
	session := r.header.Get("Mcp-Session-Id")
	if session == "" {
		return "", &opError{step: "mcp initialize", kind: "no Mcp-Session-Id"}
	}
	if _, err := t.mcpPost(ctx, c, token, session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); err != nil {
		return "", err
	}
	return session, nil
}

// checkToolResult checks a tools/call answer, JSON or one SSE event: the
// response to request id, a result that is not a tool error.
func checkToolResult(r reply, id int) error {
	body := r.body
	if strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
		var data []byte
		for _, line := range bytes.Split(body, []byte("\n")) {
			if d, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				data = append(data, bytes.TrimSpace(d)...)
			}
		}
		body = data
	}
	var msg struct {
		ID     int `json:"id"`
		Result *struct {
			IsError bool `json:"isError"`
		} `json:"result"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return &opError{step: "tools/call", kind: "unreadable response"}
	}
	switch {
	case msg.Error != nil:
		return &opError{step: "tools/call", kind: "JSON-RPC error " + msg.Error.Message}
	case msg.ID != id || msg.Result == nil:
		return &opError{step: "tools/call", kind: "no result"}
	case msg.Result.IsError:
		return &opError{step: "tools/call", kind: "tool error"}
	}
	return nil
}
