package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// proxy forwards to an MCP server speaking Streamable HTTP.
type proxy struct {
	g         *Gateway
	target    *url.URL
	transport http.RoundTripper
	rp        *httputil.ReverseProxy
}

// errUpstream401 is an upstream asking for credentials of its own.
var errUpstream401 = errors.New("upstream answered 401")

func newProxy(g *Gateway) (*proxy, error) {
	u, err := url.Parse(g.cfg.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("gateway: upstream %q must be an http(s) URL such as http://127.0.0.1:3001/mcp", g.cfg.Upstream)
	}
	p := &proxy{g: g, target: u, transport: g.cfg.Transport}
	if p.transport == nil {
		p.transport = &http.Transport{
			Proxy:                 nil, // the upstream is named directly, usually on loopback
			DialContext:           (&net.Dialer{Timeout: g.cfg.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   g.cfg.ConnectTimeout,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			DisableCompression:    true, // pass bytes as they come; the watcher reads them
		}
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      p.transport,
		FlushInterval:  -1, // SSE: every event as it arrives
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		BufferPool:     &bufferPool{},
	}
	return p, nil
}

func (p *proxy) describe() string { return "the MCP server at " + p.target.String() }

func (p *proxy) close() {
	if t, ok := p.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// ready dials the upstream's host.
func (p *proxy) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.g.cfg.ConnectTimeout)
	defer cancel()
	host := p.target.Host
	if p.target.Port() == "" {
		port := "80"
		if p.target.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(p.target.Hostname(), port)
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", host)
	if err != nil {
		return fmt.Errorf("the MCP server at %s is not answering: %w", p.target, err)
	}
	_ = conn.Close()
	return nil
}

type identityHeadersKey struct{}

func (p *proxy) serve(w http.ResponseWriter, r *http.Request, c *call) {
	h := http.Header{}
	if err := p.g.ids.setIdentityHeaders(r.Context(), h, c.id, p.target.String()); err != nil {
		p.g.log.Error("sign the identity for the upstream", "err", err)
		writeError(w, http.StatusInternalServerError, c.firstID(), codeInternal, "the gateway could not sign the identity it sends upstream; see its log")
		return
	}
	ctx := context.WithValue(r.Context(), identityHeadersKey{}, h)
	if r.Method == http.MethodGet {
		// The notification stream lasts as long as the session: it ends
		// when the gateway closes.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer context.AfterFunc(p.g.closing, cancel)()
		defer cancel()
	}
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

// rewrite makes the upstream request: the upstream URL (whatever path the
// client used), no client credentials or made-up identity, the user's
// identity and the static headers.
func (p *proxy) rewrite(pr *httputil.ProxyRequest) {
	u := *p.target
	pr.Out.URL = &u
	pr.Out.Host = ""
	pr.Out.RequestURI = ""
	h := pr.Out.Header
	stripClientHeaders(h)
	h.Del("Accept-Encoding")
	h.Del("Origin") // the gateway checked it; the upstream's own check would see a foreign origin
	pr.SetXForwarded()
	for name, vals := range p.g.cfg.Headers {
		h[name] = append([]string(nil), vals...)
	}
	if id, ok := pr.In.Context().Value(identityHeadersKey{}).(http.Header); ok {
		for name, vals := range id {
			h[name] = vals
		}
	}
}

func (p *proxy) modifyResponse(resp *http.Response) error {
	c := callFrom(resp.Request.Context())
	h := resp.Header
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusProxyAuthRequired {
		return errUpstream401
	}
	// The gateway answers CORS itself; a second Access-Control-Allow-Origin
	// would make browsers refuse the response. Cookies are the gateway's.
	for name := range h {
		if strings.HasPrefix(strings.ToLower(name), "access-control-") {
			delete(h, name)
		}
	}
	h.Del("Set-Cookie")
	h.Del("WWW-Authenticate")
	if c == nil {
		return nil
	}
	sid := h.Get(headerSessionID)
	switch {
	case c.isInitialize() && sid != "" && resp.StatusCode < 300:
		if !p.g.sessions.bind(sid, c.id.Subject) {
			return fmt.Errorf("the upstream reused session %s of another user", sid)
		}
		p.g.log.Info("mcp session started", "session", sid, "user", c.id.Name, "client_id", c.id.ClientID)
	case resp.Request.Method == http.MethodDelete && c.session != "" && (resp.StatusCode < 300 || resp.StatusCode == http.StatusNotFound):
		p.g.sessions.drop(c.session)
	case c.session != "" && resp.StatusCode == http.StatusNotFound:
		p.g.sessions.drop(c.session) // the upstream ended it; the client starts another
	}
	if w := newWatcher(p.g, c, h.Get("Content-Type")); w != nil {
		resp.Body = &watchedBody{ReadCloser: resp.Body, w: w}
	}
	return nil
}

// errorHandler answers when the upstream could not be reached or
// answered 401: a JSON-RPC error naming the upstream, never a hang.
func (p *proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	c := callFrom(r.Context())
	var id []byte
	if c != nil {
		id = c.firstID()
		for _, m := range c.msgs {
			if m.Method == "tools/call" && m.ID != nil {
				p.g.toolCall(c, m.Tool, "upstream_error")
			}
		}
	}
	if r.Context().Err() != nil {
		return // the client went away
	}
	if errors.Is(err, errUpstream401) {
		p.g.log.Error("the upstream MCP server answered 401: it must not require authorization of its own behind the gateway (tenantless checks every token), or it needs a key: add --upstream-header NAME=VALUE",
			"upstream", p.target.String())
		writeError(w, http.StatusBadGateway, id, codeUpstream, "misconfigured gateway: the MCP server at "+p.target.String()+
			" asks for authorization of its own (401); run it without auth, or pass its key with --upstream-header")
		return
	}
	p.g.log.Warn("upstream MCP server not answering", "upstream", p.target.String(), "err", err)
	writeError(w, http.StatusBadGateway, id, codeUpstream, "the MCP server at "+p.target.String()+" is not answering ("+shortErr(err)+")")
}

// shortErr is err without the URL the proxy puts in front.
func shortErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}

// bufferPool reuses the proxy's 32 KB copy buffers (one per response
// otherwise).
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
