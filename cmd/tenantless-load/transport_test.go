package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// newDirectServer starts a loopback HTTP server that counts the
// connections it accepts, and a client on a directTransport to it.
func newDirectServer(t *testing.T, h http.HandlerFunc, timeout time.Duration) (*httptest.Server, *http.Client, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	dialer := &net.Dialer{Control: loopbackOnly}
	tr := newDirectTransport(u.Host, timeout, dialer.DialContext, 4)
	t.Cleanup(tr.CloseIdleConnections)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: tr, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return srv, c, &conns
}

func TestDirectTransport(t *testing.T) {
	srv, c, conns := newDirectServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			http.SetCookie(w, &http.Cookie{Name: "seen", Value: "yes"})
			w.Header().Set("X-Cookie", r.Header.Get("Cookie"))
			w.Write(append([]byte(r.Method+" "), b...))
		case "/redirect":
			http.Redirect(w, r, "/echo", http.StatusSeeOther)
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		}
	}, 5*time.Second)

	// Kept alive: ten requests, bodies read to the end, one connection.
	for i := range 10 {
		res, err := c.Post(srv.URL+"/echo", "text/plain", strings.NewReader("hello"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || string(b) != "POST hello" {
			t.Fatalf("request %d: body %q, %v", i, b, err)
		}
		if i > 0 && res.Header.Get("X-Cookie") != "seen=yes" {
			t.Errorf("request %d sent cookies %q; the jar's cookie is missing", i, res.Header.Get("X-Cookie"))
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("10 sequential requests opened %d connections, want 1", n)
	}

	// Redirects are answered, not followed.
	res, err := c.Get(srv.URL + "/redirect")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/echo" {
		t.Errorf("redirect: %d %q", res.StatusCode, res.Header.Get("Location"))
	}

	// A body closed before its end, or a "Connection: close" answer, ends
	// the connection; the next request opens a new one.
	before := conns.Load()
	res, err = c.Get(srv.URL + "/echo")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = c.Get(srv.URL + "/close")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(res.Body)
	res.Body.Close()
	res, err = c.Get(srv.URL + "/echo")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(res.Body)
	res.Body.Close()
	if n := conns.Load() - before; n != 2 {
		t.Errorf("after an unread body and a Connection: close, %d new connections, want 2", n)
	}

	// The server drops its idle connections; the next request is sent again
	// on a new one, body included.
	srv.CloseClientConnections()
	res, err = c.Post(srv.URL+"/echo", "text/plain", strings.NewReader("again"))
	if err != nil {
		t.Fatalf("after the server closed the idle connection: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "POST again" {
		t.Errorf("resent request: body %q", b)
	}

	// Only the target is reachable.
	if _, err := c.Get("http://127.0.0.2:1/"); err == nil || !strings.Contains(err.Error(), "not the target") {
		t.Errorf("request to another host: %v, want a refusal", err)
	}
}

func TestDirectTransportTimeouts(t *testing.T) {
	release := make(chan struct{})
	srv, c, _ := newDirectServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}, 200*time.Millisecond)
	defer close(release)

	start := time.Now()
	_, err := c.Get(srv.URL + "/slow")
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a request slower than the timeout: %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the timeout of 200ms ended the request after %v", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/slow", nil)
	if _, err := c.Do(req); !errors.Is(err, context.Canceled) {
		t.Errorf("a canceled request: %v, want context.Canceled", err)
	}
}
