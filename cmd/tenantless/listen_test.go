package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestListenLocalhost: listen("localhost:0") serves one port on both
// loopback addresses, in this process (under -race), and closes cleanly.
func TestListenLocalhost(t *testing.T) {
	if !hasIPv6Loopback() {
		t.Skip("this machine has no IPv6 loopback address")
	}
	ln, err := listen("localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	addrs := strings.Fields(listenAddrs(ln))
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if want := []string{"127.0.0.1:" + port, "[::1]:" + port}; strings.Join(addrs, " ") != strings.Join(want, " ") {
		t.Fatalf("listening on %v, want %v", addrs, want)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Host) })}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	hc := &http.Client{Timeout: 5 * time.Second}
	for range 3 { // several connections on each, interleaved
		for _, a := range addrs {
			res, err := hc.Get("http://" + a + "/")
			if err != nil {
				t.Fatalf("GET %s: %v", a, err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(body) != a {
				t.Errorf("GET %s answered %q", a, body)
			}
		}
		hc.CloseIdleConnections()
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve after Close: %v, want http.ErrServerClosed", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Close", a)
		}
	}
}

func TestListenErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, port, _ := net.SplitHostPort(busy.Addr().String())
	for _, tc := range []struct {
		addr  string
		usage bool
		want  string
	}{
		{"notaport", true, "needs a port"},
		{"localhost:", true, "needs a port"},
		{"127.0.0.1:" + port, false, "already in use"},
		{"localhost:" + port, false, "already in use"},
		{"192.0.2.1:8080", false, "no such address"},
	} {
		ln, err := listen(tc.addr)
		if err == nil {
			ln.Close()
			t.Errorf("listen(%q): no error", tc.addr)
			continue
		}
		if errors.Is(err, errUsage) != tc.usage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("listen(%q): %v (usage error %v), want %q (usage error %v)", tc.addr, err, errors.Is(err, errUsage), tc.want, tc.usage)
		}
	}
}
