package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// stdio runs a stdio MCP server once per MCP session: the process starts
// on initialize with the user's identity in its environment and ends on
// DELETE, after IdleTimeout without requests, or on Close. Each session's
// HTTP side is go-sdk's StreamableServerTransport and its process side
// go-sdk's CommandTransport; the gateway only moves JSON-RPC messages
// between the two connections.
type stdio struct {
	g      *Gateway
	mu     sync.Mutex
	procs  map[string]*proc
	gone   map[string]error // sessions whose process ended, until next asked about
	closed bool
	reaper sync.Once
	stop   chan struct{}
	// events keeps each session's recent SSE events for Last-Event-ID
	// resumption, shared by all sessions and bounded in total.
	events *mcp.MemoryEventStore
}

// eventBytes bounds the resumable events kept for all stdio sessions.
const eventBytes = 16 << 20

func newStdio(g *Gateway) *stdio {
	events := mcp.NewMemoryEventStore(nil)
	events.SetMaxBytes(eventBytes)
	return &stdio{g: g, procs: map[string]*proc{}, gone: map[string]error{}, stop: make(chan struct{}), events: events}
}

func (s *stdio) describe() string {
	return "the stdio MCP server \"" + strings.Join(s.g.cfg.Command, " ") + "\" (one process per session)"
}

// ready reports whether the command can be found.
func (s *stdio) ready(context.Context) error {
	if _, err := exec.LookPath(s.g.cfg.Command[0]); err != nil {
		return fmt.Errorf("the stdio MCP server command %q cannot be run: %w", s.g.cfg.Command[0], err)
	}
	return nil
}

// close ends every process.
func (s *stdio) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.stop)
	procs := make([]*proc, 0, len(s.procs))
	for _, p := range s.procs {
		procs = append(procs, p)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.end("the gateway is shutting down") }()
	}
	wg.Wait()
}

func (s *stdio) serve(w http.ResponseWriter, r *http.Request, c *call) {
	if c.session == "" {
		s.start(w, r, c)
		return
	}
	s.mu.Lock()
	p := s.procs[c.session]
	gone, wasGone := s.gone[c.session]
	delete(s.gone, c.session)
	s.mu.Unlock()
	if p == nil {
		s.g.sessions.drop(c.session)
		if wasGone {
			writeError(w, http.StatusNotFound, c.firstID(), codeUpstream, gone.Error()+"; start a new session")
			return
		}
		writeError(w, http.StatusNotFound, c.firstID(), codeInvalidRequest, "session not found; start a new one with initialize")
		return
	}
	if err := p.failure(); err != nil {
		writeError(w, http.StatusNotFound, c.firstID(), codeUpstream, err.Error()+"; start a new session")
		return
	}
	switch r.Method {
	case http.MethodDelete:
		p.end("the client ended the session")
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPost:
		p.begin()
		defer p.finish()
	}
	p.transport.ServeHTTP(w, r)
}

// start runs a process for a new session, for an initialize request.
func (s *stdio) start(w http.ResponseWriter, r *http.Request, c *call) {
	if r.Method != http.MethodPost || !c.isInitialize() {
		writeError(w, http.StatusBadRequest, c.firstID(), codeInvalidRequest, "no Mcp-Session-Id: start a session with initialize")
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, c.firstID(), codeUpstream, "the gateway is shutting down")
		return
	}
	if len(s.procs) >= s.g.cfg.MaxSessions {
		n := len(s.procs)
		s.mu.Unlock()
		s.g.log.Warn("stdio upstream session limit reached", "sessions", n, "user", c.id.Name)
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(s.g.cfg.IdleTimeout)))
		writeError(w, http.StatusServiceUnavailable, c.firstID(), codeUpstream,
			fmt.Sprintf("all %d MCP server processes are in use (--upstream-max-sessions); try again later", n))
		return
	}
	sid := rand.Text()
	p := &proc{s: s, sid: sid, id: c.id, last: s.g.cfg.Now(), pending: map[string]pendingCall{}, dead: make(chan struct{})}
	s.procs[sid] = p
	s.mu.Unlock()
	s.reaper.Do(func() { go s.reap() })

	if err := p.run(); err != nil {
		s.remove(sid, nil)
		s.g.log.Error("start the stdio MCP server", "session", sid, "command", s.g.cfg.Command[0], "err", err)
		writeError(w, http.StatusBadGateway, c.firstID(), codeUpstream, "the MCP server command "+s.g.cfg.Command[0]+" could not be started: "+err.Error())
		return
	}
	s.g.sessions.bind(sid, c.id.Subject)
	s.g.log.Info("mcp session started", "session", sid, "user", c.id.Name, "client_id", c.id.ClientID, "pid", p.pid)
	p.begin()
	defer p.finish()
	p.transport.ServeHTTP(w, r)
}

// retryAfter is the Retry-After seconds for a full pool: about when an
// idle process would end, at most a minute.
func retryAfter(idle time.Duration) int {
	return int(max(1, min(60, idle/time.Second/10)))
}

// remove forgets a session's process. With why, the session's binding
// stays so that its next request learns why it ended.
func (s *stdio) remove(sid string, why error) {
	s.mu.Lock()
	delete(s.procs, sid)
	if why != nil {
		if len(s.gone) > 1000 {
			clear(s.gone)
		}
		s.gone[sid] = why
	}
	s.mu.Unlock()
	if why == nil {
		s.g.sessions.drop(sid)
	}
}

// reap ends processes idle for IdleTimeout.
func (s *stdio) reap() {
	every := min(max(s.g.cfg.IdleTimeout/10, 10*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		now := s.g.cfg.Now()
		s.mu.Lock()
		var idle []*proc
		for _, p := range s.procs {
			if p.idleSince(now) >= s.g.cfg.IdleTimeout {
				idle = append(idle, p)
			}
		}
		s.mu.Unlock()
		for _, p := range idle {
			go p.end("idle for " + s.g.cfg.IdleTimeout.String())
		}
	}
}

// proc is one session's process and the two connections around it.
type proc struct {
	s         *stdio
	sid       string
	id        Identity
	pid       int
	transport *mcp.StreamableServerTransport
	client    mcp.Connection // the HTTP side (server transport)
	process   mcp.Connection // the command's stdio
	cancel    context.CancelFunc

	mu       sync.Mutex
	last     time.Time
	active   int
	pending  map[string]pendingCall // client requests not answered yet
	exitErr  error
	dead     chan struct{}
	endOnce  sync.Once
	endWhy   string
	exitOnce sync.Once
}

// pendingCall is a client request forwarded to the process.
type pendingCall struct {
	id     jsonrpc.ID
	method string
	tool   string
	start  time.Time
}

// env is the process environment: the user's identity and the variables
// the gateway passes through, nothing else.
func (p *proc) env() []string {
	g := p.s.g
	getenv := g.cfg.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	names := g.cfg.Env
	if names == nil {
		names = []string{"PATH", "HOME"}
	}
	env := []string{
		"TENANTLESS_USER=" + p.id.Name,
		"TENANTLESS_USER_ID=" + p.id.Subject,
		"TENANTLESS_SCOPES=" + strings.Join(p.id.Scopes, " "),
		"TENANTLESS_CLIENT_ID=" + p.id.ClientID,
	}
	for _, n := range names {
		if v := getenv(n); v != "" && !strings.HasPrefix(n, "TENANTLESS_") {
			env = append(env, n+"="+v)
		}
	}
	return env
}

// run starts the process and the message pumps.
func (p *proc) run() error {
	g := p.s.g
	cmd := exec.Command(g.cfg.Command[0], g.cfg.Command[1:]...)
	cmd.Env = p.env()
	cmd.Stderr = &lineLogger{log: g.log, sid: p.sid}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	conn, err := (&mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}).Connect(ctx)
	if err != nil {
		cancel()
		return err
	}
	p.process = conn
	p.pid = cmd.Process.Pid
	p.transport = &mcp.StreamableServerTransport{SessionID: p.sid, EventStore: p.s.events}
	p.client, err = p.transport.Connect(ctx)
	if err != nil {
		cancel()
		_ = conn.Close()
		return err
	}
	go p.toProcess(ctx)
	go p.fromProcess(ctx)
	return nil
}

// toProcess forwards the client's messages to the process.
func (p *proc) toProcess(ctx context.Context) {
	for {
		msg, err := p.client.Read(ctx)
		if err != nil {
			return
		}
		if req, ok := msg.(*jsonrpc.Request); ok && req.IsCall() {
			pc := pendingCall{id: req.ID, method: req.Method, start: p.s.g.cfg.Now()}
			if req.Method == "tools/call" {
				var params struct {
					Name string `json:"name"`
				}
				_ = json.Unmarshal(req.Params, &params)
				pc.tool = params.Name
			}
			p.mu.Lock()
			p.pending[idKey(req.ID)] = pc
			p.mu.Unlock()
		}
		if err := p.process.Write(ctx, msg); err != nil {
			p.exited(err)
			return
		}
	}
}

// fromProcess forwards the process's messages to the client.
func (p *proc) fromProcess(ctx context.Context) {
	for {
		msg, err := p.process.Read(ctx)
		if err != nil {
			p.exited(err)
			return
		}
		if resp, ok := msg.(*jsonrpc.Response); ok {
			p.mu.Lock()
			pc, found := p.pending[idKey(resp.ID)]
			delete(p.pending, idKey(resp.ID))
			p.mu.Unlock()
			if found {
				p.answered(pc, resp)
			}
		}
		// A message for a stream the client has left is dropped, as go-sdk's
		// own server drops it.
		_ = p.client.Write(ctx, msg)
	}
}

func idKey(id jsonrpc.ID) string { return fmt.Sprint(id.Raw()) }

// answered reports a finished tools/call and checks a tools/list result.
func (p *proc) answered(pc pendingCall, resp *jsonrpc.Response) {
	g := p.s.g
	switch pc.method {
	case "tools/call":
		outcome := "ok"
		var r struct {
			IsError bool `json:"isError"`
		}
		if resp.Error != nil {
			outcome = "protocol_error"
		} else if json.Unmarshal(resp.Result, &r) == nil && r.IsError {
			outcome = "tool_error"
		}
		g.toolCall(&call{id: p.id, session: p.sid, start: pc.start}, pc.tool, outcome)
	case "tools/list":
		if resp.Error == nil {
			g.checkTools(resp.Result)
		}
	}
}

// exited handles the end of the process, expected or not: requests
// waiting for it get a JSON-RPC error, the session ends.
func (p *proc) exited(readErr error) {
	p.exitOnce.Do(func() {
		g := p.s.g
		err := p.process.Close() // reaps the process; its exit status
		p.mu.Lock()
		why := p.endWhy
		if err == nil && why == "" {
			err = readErr
		}
		if why != "" {
			p.exitErr = errors.New("the MCP server process of this session was ended: " + why)
		} else {
			p.exitErr = fmt.Errorf("the MCP server process of this session exited (%v)", exitStatus(err))
		}
		pending := p.pending
		p.pending = map[string]pendingCall{}
		p.mu.Unlock()
		if why == "" {
			g.log.Error("stdio MCP server process exited; its session is over, new sessions start fresh processes",
				"session", p.sid, "pid", p.pid, "user", p.id.Name, "err", exitStatus(err), "pending_requests", len(pending))
		} else {
			g.log.Info("stdio MCP server process ended", "session", p.sid, "pid", p.pid, "reason", why)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		for _, pc := range pending {
			_ = p.client.Write(ctx, &jsonrpc.Response{ID: pc.id, Error: &jsonrpc.Error{Code: codeUpstream, Message: p.exitErr.Error()}})
			if pc.method == "tools/call" {
				g.toolCall(&call{id: p.id, session: p.sid, start: pc.start}, pc.tool, "upstream_error")
			}
		}
		cancel()
		close(p.dead)
		if why == "" {
			p.s.remove(p.sid, p.exitErr)
		} else {
			p.s.remove(p.sid, nil)
		}
		_ = p.client.Close()
		_ = p.s.events.SessionClosed(context.Background(), p.sid)
		p.cancel()
	})
}

func exitStatus(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.String()
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// end stops the process (closing its stdin, then signals) and waits.
func (p *proc) end(why string) {
	p.endOnce.Do(func() {
		p.mu.Lock()
		p.endWhy = why
		p.mu.Unlock()
		p.exited(nil)
	})
	<-p.dead
}

// failure is why the session cannot serve, or nil.
func (p *proc) failure() error {
	select {
	case <-p.dead:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.exitErr
	default:
		return nil
	}
}

func (p *proc) begin() {
	p.mu.Lock()
	p.active++
	p.last = p.s.g.cfg.Now()
	p.mu.Unlock()
}

func (p *proc) finish() {
	p.mu.Lock()
	p.active--
	p.last = p.s.g.cfg.Now()
	p.mu.Unlock()
}

// idleSince is how long the session has had no POST in progress.
func (p *proc) idleSince(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.active > 0 {
		return 0
	}
	return now.Sub(p.last)
}

// lineLogger logs a process's stderr line by line, tagged with its session.
type lineLogger struct {
	log *slog.Logger
	sid string
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.log.Info("upstream stderr", "session", l.sid, "line", strings.TrimRight(string(l.buf[:i]), "\r"))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 8<<10 {
		l.log.Info("upstream stderr", "session", l.sid, "line", string(l.buf))
		l.buf = l.buf[:0]
	}
	return len(b), nil
}
