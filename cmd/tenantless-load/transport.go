package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// directTransport is the HTTP/1.1 client transport of the load workers: it
// writes each request and reads its response on the calling goroutine,
// over kept-alive connections to the one target, where http.Transport hands
// every request to two goroutines of its connection and back. With the
// server and the load generator on the same two cores, that hand-off cost
// the generator about half as much CPU as a registration costs the server
// (0.26 against 0.5 ms), and every millisecond the generator spends is one
// the server cannot.
//
// It speaks plain http only (https targets use http.Transport); every
// connection is dialed with the loopback-only dialer.
type directTransport struct {
	addr    string        // the target's host:port
	timeout time.Duration // of one request, response body included
	dial    func(ctx context.Context, network, address string) (net.Conn, error)
	idle    chan *directConn
}

// directConn is one kept-alive connection with its buffers.
type directConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// aLongTimeAgo is a deadline that has passed: it makes a blocked read or
// write on a connection return at once.
var aLongTimeAgo = time.Unix(1, 0)

// newDirectTransport returns a transport to addr that keeps up to maxIdle
// connections. Each request must end, body read, within timeout (the
// transport enforces it, rather than http.Client.Timeout, which runs a
// goroutine and a timer per request for any transport but its own).
func newDirectTransport(addr string, timeout time.Duration, dial func(ctx context.Context, network, address string) (net.Conn, error), maxIdle int) *directTransport {
	return &directTransport{addr: addr, timeout: timeout, dial: dial, idle: make(chan *directConn, maxIdle)}
}

// RoundTrip sends req and reads the response head; the connection goes
// back to the idle set when the body has been read to its end and closed.
func (t *directTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" || req.URL.Host != t.addr {
		closeBody(req)
		return nil, fmt.Errorf("direct transport: %s is not the target http://%s", req.URL.Redacted(), t.addr)
	}
	for attempt := 0; ; attempt++ {
		dc, reused, err := t.get(req.Context())
		if err != nil {
			closeBody(req)
			return nil, err
		}
		res, stop, err := dc.exchange(req, t.timeout)
		if err == nil {
			res.Body = &directBody{body: res.Body, t: t, dc: dc, stop: stop, keep: !res.Close && !req.Close}
			return res, nil
		}
		dc.c.Close()
		// A kept-alive connection the server closed while it was idle
		// fails before any answer arrives; send once more on a new one, as
		// http.Transport does, if the request can be sent again.
		var noAnswer *noAnswerError
		if !reused || attempt > 0 || !errors.As(err, &noAnswer) || req.Context().Err() != nil || (req.Body != nil && req.GetBody == nil) {
			return nil, err
		}
		if req.GetBody != nil {
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

// get returns an idle connection, or a new one.
func (t *directTransport) get(ctx context.Context) (*directConn, bool, error) {
	select {
	case dc := <-t.idle:
		return dc, true, nil
	default:
	}
	c, err := t.dial(ctx, "tcp", t.addr)
	if err != nil {
		return nil, false, err
	}
	return &directConn{c: c, r: bufio.NewReaderSize(c, 16<<10), w: bufio.NewWriterSize(c, 8<<10)}, false, nil
}

// put keeps a connection for the next request, or closes it when enough
// are kept.
func (t *directTransport) put(dc *directConn) {
	select {
	case t.idle <- dc:
	default:
		dc.c.Close()
	}
}

// CloseIdleConnections closes the kept connections.
func (t *directTransport) CloseIdleConnections() {
	for {
		select {
		case dc := <-t.idle:
			dc.c.Close()
		default:
			return
		}
	}
}

// noAnswerError is a failure before the first byte of the response.
type noAnswerError struct{ err error }

func (e *noAnswerError) Error() string { return "no response: " + e.err.Error() }
func (e *noAnswerError) Unwrap() error { return e.err }

// exchange writes req and reads the response head. The connection's
// deadline is timeout from now, or the context's if sooner; the context's
// cancellation interrupts a blocked read or write until stop is called.
func (dc *directConn) exchange(req *http.Request, timeout time.Duration) (*http.Response, func() bool, error) {
	ctx := req.Context()
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}
	if err := dc.c.SetDeadline(deadline); err != nil {
		closeBody(req)
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = dc.c.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, func() bool, error) {
		stop()
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%v)", cerr, err)
		}
		return nil, nil, err
	}
	if err := req.Write(dc.w); err != nil {
		return fail(&noAnswerError{err})
	}
	if err := dc.w.Flush(); err != nil {
		return fail(&noAnswerError{err})
	}
	if _, err := dc.r.Peek(1); err != nil {
		return fail(&noAnswerError{err})
	}
	res, err := http.ReadResponse(dc.r, req)
	if err != nil {
		return fail(err)
	}
	return res, stop, nil
}

// closeBody closes a request body RoundTrip will not send.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// directBody is a response body; closing it after reading it to the end
// keeps the connection for the next request.
type directBody struct {
	body io.ReadCloser
	t    *directTransport
	dc   *directConn
	stop func() bool
	keep bool

	mu     sync.Mutex
	eof    bool
	closed bool
}

func (b *directBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.mu.Lock()
		b.eof = true
		b.mu.Unlock()
	}
	return n, err
}

func (b *directBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.body.Close()
	// stop reports false when the request's context already ended and
	// its deadline-in-the-past may be set on the connection.
	if b.stop() && b.eof && b.keep && err == nil {
		b.t.put(b.dc)
		return nil
	}
	b.dc.c.Close()
	return err
}
