package main

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
)

// listen opens the server's listener for --addr. A "localhost" host means
// every loopback address: 127.0.0.1 and [::1] on the same port (clients
// spell the URL either way, and resolve localhost to either), served as
// one listener; [::1] is left out only on a machine without IPv6. Any
// other host is one listener, as net.Listen makes it.
func listen(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return nil, usagef("--addr %q needs a port: write HOST:PORT, for example localhost:8080, 127.0.0.1:9090 or [::1]:8080", addr)
	}
	if !strings.EqualFold(host, "localhost") {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, listenError(addr, err)
		}
		return ln, nil
	}
	// With port 0 the kernel picks 127.0.0.1's port, which may be taken on
	// [::1]: pick again a few times.
	for range 5 {
		ln4, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", port))
		if err != nil {
			return nil, listenError(net.JoinHostPort("127.0.0.1", port), err)
		}
		p := fmt.Sprint(ln4.Addr().(*net.TCPAddr).Port)
		ln6, err := net.Listen("tcp6", net.JoinHostPort("::1", p))
		switch {
		case err == nil:
			return newMultiListener(ln4, ln6), nil
		case noIPv6(err):
			return ln4, nil
		case errors.Is(err, syscall.EADDRINUSE) && port == "0":
			_ = ln4.Close()
			continue
		default:
			_ = ln4.Close()
			return nil, listenError(net.JoinHostPort("::1", p), err)
		}
	}
	return nil, fmt.Errorf("listen on %s: found no port free on both 127.0.0.1 and [::1]; choose one with --addr", addr)
}

// noIPv6 reports whether a listen error means the machine has no IPv6
// loopback address.
func noIPv6(err error) bool {
	return errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EPROTONOSUPPORT)
}

// listenError says why the server cannot listen on addr, and what to do.
func listenError(addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("listen on %s: the address is already in use (is another server, or another tenantless, using the port?); stop it or choose another port with --addr", addr)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("listen on %s: permission denied (ports below 1024 need privileges); choose another port with --addr, for example localhost:8080", addr)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("listen on %s: this machine has no such address; use one of its own, for example localhost:8080", addr)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return usagef("--addr %s: the host %q is not known on this machine; use an IP address or localhost", addr, dnsErr.Name)
	}
	return fmt.Errorf("listen on %s: %w", addr, err)
}

// listenAddrs lists the addresses ln listens on, separated by spaces.
func listenAddrs(ln net.Listener) string {
	if m, ok := ln.(*multiListener); ok {
		var s []string
		for _, l := range m.lns {
			s = append(s, l.Addr().String())
		}
		return strings.Join(s, " ")
	}
	return ln.Addr().String()
}

// multiListener accepts the connections of several listeners as one.
type multiListener struct {
	lns   []net.Listener
	conns chan net.Conn
	errs  chan error
	done  chan struct{}
	once  sync.Once
}

func newMultiListener(lns ...net.Listener) *multiListener {
	m := &multiListener{lns: lns, conns: make(chan net.Conn), errs: make(chan error), done: make(chan struct{})}
	for _, ln := range lns {
		go m.accept(ln)
	}
	return m
}

// accept hands ln's connections, and its errors but the last, to Accept
// until ln is closed.
func (m *multiListener) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A temporary error (too many open files): the server backs
			// off and calls Accept again.
			select {
			case m.errs <- err:
				continue
			case <-m.done:
				return
			}
		}
		select {
		case m.conns <- c:
		case <-m.done:
			_ = c.Close()
			return
		}
	}
}

// Accept returns the next connection of any of the listeners.
func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case err := <-m.errs:
		return nil, err
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// Close closes every listener.
func (m *multiListener) Close() error {
	var errs []error
	m.once.Do(func() {
		close(m.done)
		for _, ln := range m.lns {
			errs = append(errs, ln.Close())
		}
	})
	return errors.Join(errs...)
}

// Addr is the first listener's address (127.0.0.1's).
func (m *multiListener) Addr() net.Addr { return m.lns[0].Addr() }
