package cimd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// maxHeaderBytes bounds the response headers of a document fetch.
const maxHeaderBytes = 16 << 10

// newHTTPClient returns the client used for every fetch: no proxy (a proxy
// would connect on our behalf, out of the guard's sight), no redirects
// (draft -01: MUST NOT follow them), no connection reuse (fetches are
// rare, and every connection then passes the guard), and a dialer that
// refuses special-use addresses.
func (r *Resolver) newHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            r.dialGuarded,
			DialTLSContext:         r.dialTLS,
			DisableKeepAlives:      true,
			MaxResponseHeaderBytes: maxHeaderBytes,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// lookupError reports a failed name resolution.
type lookupError struct {
	host string
	err  error
}

func (e *lookupError) Error() string {
	return fmt.Sprintf("could not resolve host %s: %v", e.host, e.err)
}
func (e *lookupError) Unwrap() error { return e.err }

// dialGuarded connects to addr ("host:port" from the URL). Unless addr is
// listed in AllowHosts, it refuses when the host is, or resolves to any,
// special-use address, and its Control hook checks again the address each
// socket actually connects to.
func (r *Resolver) dialGuarded(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("invalid port in %q", addr)
	}
	exempt := r.allowHosts[strings.ToLower(addr)]
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ips, err = r.lookupIP(ctx, strings.ToLower(host))
		if err != nil {
			return nil, &lookupError{host: host, err: err}
		}
		if len(ips) == 0 {
			return nil, &lookupError{host: host, err: errors.New("no addresses")}
		}
	}
	d := net.Dialer{}
	if !exempt {
		// Refuse if any answer is special-use, not just the first one
		// tried: a name mixing public and private answers is an attack.
		for _, ip := range ips {
			if reason := blockedReason(ip); reason != "" {
				return nil, &blockedError{addr: ip, reason: reason}
			}
		}
		d.Control = guardControl
	}
	var errs []error
	for _, ip := range ips {
		conn, err := d.DialContext(ctx, network, netip.AddrPortFrom(ip.Unmap(), uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if _, blocked := errors.AsType[*blockedError](err); blocked || ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// dialTLS connects with dialGuarded and performs the TLS handshake for the
// URL's host.
func (r *Resolver) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	conn, err := r.dialGuarded(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(conn, r.tlsConfig(host))
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// tlsConfig returns the client TLS configuration for host.
func (r *Resolver) tlsConfig(host string) *tls.Config {
	c := &tls.Config{
		ServerName: host,
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
	}
	if r.extraRoots != nil {
		// crypto/x509 cannot merge a pool into the system pool, so the
		// chain is verified here, against the system roots and then the
		// extra ones; VerifyConnection runs on every handshake.
		extra := r.extraRoots
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyPeer(cs.PeerCertificates, host, extra)
		}
	}
	return c
}

// verifyPeer verifies the server's chain for host against the system roots
// or, failing that, against extra.
func verifyPeer(certs []*x509.Certificate, host string, extra *x509.CertPool) error {
	if len(certs) == 0 {
		return errors.New("tls: the server sent no certificate")
	}
	opts := x509.VerifyOptions{DNSName: host, Intermediates: x509.NewCertPool()}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, sysErr := certs[0].Verify(opts)
	if sysErr == nil {
		return nil
	}
	opts.Roots = extra
	if _, err := certs[0].Verify(opts); err == nil {
		return nil
	}
	return fmt.Errorf("tls: %w", sysErr)
}

// fetch GETs clientID and validates the answer. Only a 200 with a body of
// at most maxBytes that Parse accepts succeeds (draft -01 §4).
func (r *Resolver) fetch(ctx context.Context, clientID string) (Document, error) {
	u, err := url.Parse(clientID)
	if err != nil {
		return Document{}, invalidURL(clientID, "it does not parse")
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientID, nil)
	if err != nil {
		return Document{}, invalidURL(clientID, "it does not parse")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "tenantless-cimd")
	resp, err := r.client.Do(req)
	if err != nil {
		return Document{}, r.transportError(ctx, clientID, u, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		where := "without a Location"
		if loc, err := resp.Location(); err == nil {
			where = "redirecting to host " + loc.Host
		}
		return Document{}, newError(KindRedirect, clientID, nil,
			"%s answered %s, %s; tenantless does not follow redirects, so the client_id must be the document's own URL",
			docAt(clientID), statusText(resp.StatusCode), where)
	}
	if resp.StatusCode != http.StatusOK {
		return Document{}, newError(KindStatus, clientID, nil,
			"%s answered %s; it must answer 200", docAt(clientID), statusText(resp.StatusCode))
	}
	if resp.ContentLength > r.maxBytes {
		return Document{}, r.tooLarge(clientID)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.maxBytes+1))
	if err != nil {
		return Document{}, r.transportError(ctx, clientID, u, err)
	}
	if int64(len(body)) > r.maxBytes {
		return Document{}, r.tooLarge(clientID)
	}
	now := r.now()
	doc, err := parse(clientID, body, true)
	if err != nil {
		if e, ok := errors.AsType[*Error](err); ok && e.Kind == KindNotJSON {
			if ct := resp.Header.Get("Content-Type"); ct != "" {
				e.Msg += fmt.Sprintf(" (it was served as %q; serve application/json)", ct)
			}
		}
		return Document{}, err
	}
	doc.FetchedAt = now
	doc.ExpiresAt = now.Add(clamp(freshness(resp.Header, now), r.minTTL, r.maxTTL))
	doc.Revalidate = revalidate(resp.Header)
	return doc, nil
}

// tooLarge builds the KindTooLarge error.
func (r *Resolver) tooLarge(clientID string) error {
	return newError(KindTooLarge, clientID, nil, "%s is larger than %d bytes", docAt(clientID), r.maxBytes)
}

// transportError turns an error of the HTTP client into an *Error.
func (r *Resolver) transportError(ctx context.Context, clientID string, u *url.URL, err error) error {
	if b, ok := errors.AsType[*blockedError](err); ok {
		return blockedAddress(clientID, u, b.addr, b.reason, err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return newError(KindTimeout, clientID, err, "%s did not answer within %v", docAt(clientID), r.timeout)
	}
	cause := err
	if ue, ok := errors.AsType[*url.Error](err); ok {
		cause = ue.Err
	}
	return newError(KindNetwork, clientID, err, "could not fetch %s: %v", docAt(clientID), cause)
}

// statusText renders a status code as "404 Not Found".
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return strconv.Itoa(code)
}
