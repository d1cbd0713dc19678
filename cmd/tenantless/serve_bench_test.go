package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tenantless/tenantless/e2e/browser"
)

// The benchmarks in this file run the whole server in-process ("tenantless
// serve" on 127.0.0.1:0 with a SQLite file in b.TempDir(), the weather
// provider offline, logging at info as it does by default) and send it
// real HTTP over loopback with keep-alive connections: every layer a
// client's request goes through, from the listener to the database. The
// authz and resource packages have the same operations without the
// network, and cmd/tenantless-load drives a separate server process.

const benchAdminPassword = "bench admin password"

// benchServer is a running server with a signed-in browser that has
// allowed a dynamically registered public client once.
type benchServer struct {
	base     string
	resource string
	http     *http.Client
	browser  *browser.Browser
	clientID string
}

func startBenchServer(b *testing.B) *benchServer {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan int, 1)
	e := env{
		Stdin:  strings.NewReader(""),
		Stdout: io.Discard,
		Stderr: io.Discard,
		Getenv: func(k string) string {
			if k == "TENANTLESS_ADMIN_PASSWORD" {
				return benchAdminPassword
			}
			return ""
		},
		Ready: func(addr string) { ready <- addr },
	}
	db := filepath.Join(b.TempDir(), "tenantless.db")
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--weather", "offline"}, e)
	}()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		cancel()
		b.Fatalf("serve exited with %d before it was ready", code)
	case <-time.After(30 * time.Second):
		cancel()
		b.Fatal("serve did not become ready")
	}
	b.Cleanup(func() {
		cancel()
		<-done
	})
	_, port, _ := strings.Cut(addr, ":")
	s := &benchServer{
		base: "http://localhost:" + port,
		http: &http.Client{
			Transport: &http.Transport{MaxIdleConnsPerHost: 64},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
	s.resource = s.base + "/mcp"
	s.clientID, _ = s.register(b, "none")
	s.browser = browser.New(s.base)
	if _, err := s.code(s.browser, oauth2.GenerateVerifier()); err != nil { // sign-in and consent
		b.Fatal(err)
	}
	return s
}

// register registers a client with RFC 7591 and returns its ID and secret.
func (s *benchServer) register(tb testing.TB, authMethod string) (string, string) {
	tb.Helper()
	body := fmt.Sprintf(`{"client_name":"bench","redirect_uris":["http://127.0.0.1/callback"],"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":%q}`, authMethod)
	res, err := s.http.Post(s.base+"/register", "application/json", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	var reg struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.NewDecoder(res.Body).Decode(&reg); err != nil || res.StatusCode != http.StatusCreated {
		tb.Fatalf("register: status %d, %v", res.StatusCode, err)
	}
	return reg.ClientID, reg.ClientSecret
}

// code runs an authorization request in the browser b (signing in and
// consenting the first time) and returns the code.
func (s *benchServer) code(b *browser.Browser, verifier string) (string, error) {
	q := url.Values{
		"response_type": {"code"}, "client_id": {s.clientID}, "redirect_uri": {"http://127.0.0.1:41000/callback"},
		"state": {"bench-state-0123"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"}, "scope": {"weather:read"}, "resource": {s.resource},
	}
	loc, _, err := b.Authorize(s.base+"/authorize?"+q.Encode(), "admin", benchAdminPassword, "allow")
	if err != nil {
		return "", err
	}
	c := loc.Query().Get("code")
	if c == "" {
		return "", fmt.Errorf("no code in %s", loc)
	}
	return c, nil
}

type benchTokenReply struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Active       bool   `json:"active"`
}

func (s *benchServer) postForm(path string, form url.Values, user, pass string) (benchTokenReply, error) {
	req, err := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return benchTokenReply{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	res, err := s.http.Do(req)
	if err != nil {
		return benchTokenReply{}, err
	}
	defer res.Body.Close()
	var r benchTokenReply
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil || res.StatusCode != http.StatusOK {
		return r, fmt.Errorf("%s: status %d, %v", path, res.StatusCode, err)
	}
	return r, nil
}

// flow is a signed-in authorization with remembered consent: code, then
// tokens.
func (s *benchServer) flow(b *browser.Browser) (benchTokenReply, error) {
	v := oauth2.GenerateVerifier()
	c, err := s.code(b, v)
	if err != nil {
		return benchTokenReply{}, err
	}
	return s.postForm("/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {c}, "code_verifier": {v},
		"redirect_uri": {"http://127.0.0.1:41000/callback"}, "client_id": {s.clientID}, "resource": {s.resource},
	}, "", "")
}

// mcp posts one JSON-RPC message to the MCP endpoint and returns the
// session ID and the body.
func (s *benchServer) mcp(token, session, body string) (string, string, error) {
	req, err := http.NewRequest(http.MethodPost, s.resource, strings.NewReader(body))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	res, err := s.http.Do(req)
	if err != nil {
		return "", "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", "", err
	}
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusAccepted {
		return "", "", fmt.Errorf("mcp: status %d: %.200s", res.StatusCode, b)
	}
	return res.Header.Get("Mcp-Session-Id"), string(b), nil
}

// BenchmarkServe measures one operation of each kind the load command
// drives, through the whole server over loopback: the signed-in flow
// (serial and from parallel browsers), a rotating refresh, registration,
// authenticated introspection, and an authorized tools/call.
func BenchmarkServe(b *testing.B) {
	s := startBenchServer(b)
	b.Run("flow", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.flow(s.browser); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("flow-parallel", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			br := browser.New(s.base)
			if _, err := s.code(br, oauth2.GenerateVerifier()); err != nil {
				b.Error(err)
				return
			}
			for pb.Next() {
				if _, err := s.flow(br); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("refresh", func(b *testing.B) {
		tok, err := s.flow(s.browser)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if tok, err = s.postForm("/token", url.Values{
				"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {s.clientID},
			}, "", ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("register", func(b *testing.B) {
		for b.Loop() {
			s.register(b, "none")
		}
	})
	b.Run("introspect", func(b *testing.B) {
		id, secret := s.register(b, "client_secret_basic")
		tok, err := s.flow(s.browser)
		if err != nil {
			b.Fatal(err)
		}
		form := url.Values{"token": {tok.AccessToken}}
		for b.Loop() {
			r, err := s.postForm("/introspect", form, id, secret)
			if err != nil || !r.Active {
				b.Fatalf("introspect: active %v, %v", r.Active, err)
			}
		}
	})
	b.Run("tools-call", func(b *testing.B) {
		tok, err := s.flow(s.browser)
		if err != nil {
			b.Fatal(err)
		}
		session, _, err := s.mcp(tok.AccessToken, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}`)
		if err != nil || session == "" {
			b.Fatalf("initialize: session %q, %v", session, err)
		}
		if _, _, err := s.mcp(tok.AccessToken, session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); err != nil {
			b.Fatal(err)
		}
		id := 1
		for b.Loop() {
			id++
			_, body, err := s.mcp(tok.AccessToken, session, `{"jsonrpc":"2.0","id":`+strconv.Itoa(id)+`,"method":"tools/call","params":{"name":"get_forecast","arguments":{"latitude":47.6062,"longitude":-122.3321}}}`)
			if err != nil || !strings.Contains(body, `"result"`) || strings.Contains(body, `"isError":true`) {
				b.Fatalf("tools/call: %v: %.300s", err, body)
			}
		}
	})
}
