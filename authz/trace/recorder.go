package trace

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultSize is the number of events a Recorder keeps by default.
const DefaultSize = 2000

// Config configures a Recorder.
type Config struct {
	// Size is how many events are kept; older ones are dropped. Zero
	// means DefaultSize.
	Size int
	// Issuer is the authorization server's issuer URL, for hints that
	// name the URLs a client should have fetched.
	Issuer string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Quiet is how long a client may stay silent after a fault (or in
	// the middle of an attempt) before it is said to have given up; zero
	// means 30 seconds.
	Quiet time.Duration
}

// Recorder is the trace: a bounded ring of events grouped into
// connection attempts, their subscribers, and the armed faults. It is
// safe for concurrent use; a nil *Recorder records nothing.
type Recorder struct {
	size   int
	issuer string
	now    func() time.Time
	quiet  time.Duration

	mu      sync.Mutex
	ring    []Event // ring[(start+i)%size], i < n
	start   int
	n       int
	seq     uint64
	subs    map[chan Event]struct{}
	att     attempts
	tokens  map[string]tokenInfo // by fingerprint
	revoked map[string]time.Time // grant fingerprint → when
	users   map[string]string    // subject → name
	names   map[string]string    // client ID → name
	faults  faults
	actions Actions

	closed    chan struct{}
	closeOnce sync.Once
}

// tokenInfo is what the recorder learnt about an access token it saw
// issued or accepted.
type tokenInfo struct {
	client, user, grant string
	expiry              time.Time
	expired             bool // by an injected fault
	refused             int  // times the MCP endpoint refused it
	scopeRefused        int  // times a call with it lacked a scope
}

// New returns a Recorder; it returns nil (tracing off) when size < 0.
func New(c Config) *Recorder {
	if c.Size < 0 {
		return nil
	}
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Quiet <= 0 {
		c.Quiet = 30 * time.Second
	}
	return &Recorder{
		size: c.Size, issuer: c.Issuer, now: c.Now, quiet: c.Quiet,
		ring:    make([]Event, c.Size),
		subs:    map[chan Event]struct{}{},
		tokens:  map[string]tokenInfo{},
		revoked: map[string]time.Time{},
		users:   map[string]string{},
		names:   map[string]string{},
		att:     attempts{byID: map[int]*Attempt{}},
		closed:  make(chan struct{}),
	}
}

// pending is the event of a request being handled.
type pending struct {
	mu   sync.Mutex
	ev   Event
	note Note
	// Facts the middleware gathers from the request and the response.
	method, path string
	peer         string
	bearer       string // fingerprint of the Authorization bearer token
	form         map[string]string
	errCode      string
	errDesc      string
	retryAfter   string
	challenge    string
	location     bool
}

type pendingKey struct{}

// Note adds n to the event of the request r (nothing when r carries none).
func (rec *Recorder) Note(r *http.Request, n Note) {
	if rec == nil || r == nil {
		return
	}
	p, _ := r.Context().Value(pendingKey{}).(*pending)
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	merge(&p.note, n)
}

func merge(dst *Note, n Note) {
	set := func(d *string, v string) {
		if v != "" {
			*d = v
		}
	}
	set(&dst.ClientID, n.ClientID)
	set(&dst.ClientName, n.ClientName)
	set(&dst.User, n.User)
	set(&dst.UserID, n.UserID)
	set(&dst.Grant, n.Grant)
	set(&dst.Token, n.Token)
	set(&dst.Cause, n.Cause)
	set(&dst.Detail, n.Detail)
	set(&dst.RedirectURI, n.RedirectURI)
	set(&dst.Resource, n.Resource)
	set(&dst.Step, n.Step)
	set(&dst.Fetched, n.Fetched)
	if !n.Expiry.IsZero() {
		dst.Expiry = n.Expiry
	}
	dst.Issued = dst.Issued || n.Issued
	dst.ToolCall = dst.ToolCall || n.ToolCall
	if n.Registered != nil {
		dst.Registered = n.Registered
	}
	if n.Audience != nil {
		dst.Audience = n.Audience
	}
	if n.Scopes != nil {
		dst.Scopes = n.Scopes
	}
	if n.Missing != nil {
		dst.Missing = n.Missing
	}
}

// traced reports whether requests to path become events: discovery,
// the OAuth endpoints, sign-in, and the MCP endpoints.
func traced(path string) bool {
	switch {
	case strings.HasPrefix(path, "/.well-known/"),
		path == "/authorize", path == "/login", path == "/token", path == "/revoke", path == "/introspect",
		path == "/register", strings.HasPrefix(path, "/register/"),
		path == "/jwks.json",
		path == "/mcp", strings.HasPrefix(path, "/mcp/"):
		return true
	}
	return false
}

// record appends e (its Seq and Attempt set by the caller) to the ring and
// tells the subscribers. rec.mu must be held.
func (rec *Recorder) appendLocked(e Event) Event {
	rec.seq++
	e.Seq = rec.seq
	if rec.n < rec.size {
		rec.ring[(rec.start+rec.n)%rec.size] = e
		rec.n++
	} else {
		rec.ring[rec.start] = e
		rec.start = (rec.start + 1) % rec.size
	}
	for ch := range rec.subs {
		select {
		case ch <- e:
		default: // a slow subscriber misses events rather than slowing requests
		}
	}
	return e
}

// Subscribe returns a channel that receives every event recorded from now
// on, until cancel is called (or ctx ends). A subscriber that does not
// keep up misses events.
func (rec *Recorder) Subscribe(ctx context.Context) (<-chan Event, func()) {
	ch := make(chan Event, 256)
	if rec == nil {
		return ch, func() {}
	}
	rec.mu.Lock()
	rec.subs[ch] = struct{}{}
	rec.mu.Unlock()
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			rec.mu.Lock()
			delete(rec.subs, ch)
			rec.mu.Unlock()
		})
	}
	go func() {
		<-ctx.Done()
		cancel()
	}()
	return ch, cancel
}

// Filter selects events; empty fields select everything.
type Filter struct {
	ClientID string
	User     string
}

// Match reports whether e passes the filter.
func (f Filter) Match(e Event) bool {
	return (f.ClientID == "" || e.ClientID == f.ClientID) && (f.User == "" || e.User == f.User)
}

// Events returns the events held, oldest first, that pass f.
func (rec *Recorder) Events(f Filter) []Event {
	if rec == nil {
		return nil
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := make([]Event, 0, rec.n)
	for i := 0; i < rec.n; i++ {
		e := rec.ring[(rec.start+i)%rec.size]
		if f.Match(e) {
			out = append(out, e)
		}
	}
	return out
}

// AttemptView is one connection attempt with its events, for the views.
type AttemptView struct {
	Attempt
	Events []Event
}

// Attempts returns the attempts of the events held that pass f, newest
// first, each with its events oldest first. An attempt passes f when one
// of its events does.
func (rec *Recorder) Attempts(f Filter) []AttemptView {
	if rec == nil {
		return nil
	}
	all := rec.Events(Filter{})
	rec.mu.Lock()
	byID := map[int]*AttemptView{}
	var order []int
	for _, e := range all {
		v, ok := byID[e.Attempt]
		if !ok {
			a := Attempt{ID: e.Attempt}
			if p := rec.att.byID[e.Attempt]; p != nil {
				a = *p
			}
			v = &AttemptView{Attempt: a}
			byID[e.Attempt] = v
			order = append(order, e.Attempt)
		}
		v.Events = append(v.Events, e)
	}
	rec.mu.Unlock()
	var out []AttemptView
	for i := len(order) - 1; i >= 0; i-- {
		v := byID[order[i]]
		if f.ClientID != "" || f.User != "" {
			if !slices.ContainsFunc(v.Events, f.Match) && !(f.Match(Event{ClientID: v.ClientID, User: v.User})) {
				continue
			}
		}
		out = append(out, *v)
	}
	return out
}

// Clients returns the client IDs and names seen in the held events, and
// the users.
func (rec *Recorder) Clients() (clients map[string]string, users []string) {
	clients = map[string]string{}
	for _, e := range rec.Events(Filter{}) {
		if e.ClientID != "" && clients[e.ClientID] == "" {
			clients[e.ClientID] = e.ClientName
		}
		if e.User != "" && !slices.Contains(users, e.User) {
			users = append(users, e.User)
		}
	}
	slices.Sort(users)
	return clients, users
}

// record completes the event of a request and appends it.
func (rec *Recorder) record(p *pending, n Note) {
	e := p.ev
	e.ClientID = n.ClientID
	if e.ClientID == "" {
		e.ClientID = p.form["client_id"]
	}
	if p.path == "/login" && e.ClientID == "" {
		return // a sign-in to this server's own pages, not a client's step
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if n.UserID != "" && n.User != "" {
		rec.users[n.UserID] = n.User
	}
	e.User = n.User
	if e.User == "" && n.UserID != "" {
		if e.User = rec.users[n.UserID]; e.User == "" {
			e.User = n.UserID
		}
	}
	e.ClientName = n.ClientName
	if e.ClientID != "" {
		if e.ClientName != "" {
			rec.names[e.ClientID] = e.ClientName
		} else {
			e.ClientName = rec.names[e.ClientID]
		}
	}
	e.Token = n.Token
	if e.Token == "" {
		e.Token = p.bearer
	}
	e.Grant = n.Grant
	// A refused token tells nothing itself; what the trace saw of it
	// does (whose it was).
	if t, ok := rec.tokens[e.Token]; ok && e.Token != "" {
		if e.ClientID == "" {
			e.ClientID, e.ClientName = t.client, rec.names[t.client]
		}
		if e.User == "" {
			e.User = t.user
		}
		if e.Grant == "" {
			e.Grant = t.grant
		}
	}
	if len(rec.tokens) > 4*rec.size {
		rec.tokens = map[string]tokenInfo{}
	}
	if e.Token != "" && (n.Issued || (n.Cause == "" && isMCP(e.Route) && e.Status < 400)) {
		if _, seen := rec.tokens[e.Token]; !seen {
			rec.tokens[e.Token] = tokenInfo{client: e.ClientID, user: e.User, grant: e.Grant, expiry: n.Expiry}
		}
	}
	rec.explain(&e, p, n)
	a := rec.att.assign(&e, p.peer, isMCP(e.Route))
	if n.Fetched != "" {
		fe := Event{Time: e.Time, Attempt: a.ID, Route: "fetch client metadata document", Step: n.Fetched,
			ClientID: e.ClientID, ClientName: e.ClientName, Outcome: OK}
		if n.Cause == CauseCIMD {
			fe.Outcome, fe.Reason, fe.Hint = Fail, e.Reason, e.Hint
		}
		rec.appendLocked(fe)
	}
	e.Attempt = a.ID
	if n.UserID != "" {
		a.userID = n.UserID
	}
	a.stepUp(&e, n, p.form["scope"])
	a.progress(&e, n)
	e = rec.appendLocked(e)
	rec.watchLocked(e, n, a, p.peer)
	if e.Seq%128 == 0 {
		rec.att.prune(rec.ring[rec.start].Attempt)
		// The side tables are bounded too (a client's name and a user's
		// name are learnt again from its next token or sign-in).
		for _, m := range []map[string]string{rec.names, rec.users} {
			if len(m) > 4*rec.size {
				clear(m)
			}
		}
		if len(rec.revoked) > 4*rec.size {
			clear(rec.revoked)
		}
	}
}

// revokedGrantOf says when a grant of the client was revoked, if one was
// in the last 10 minutes ("" otherwise). rec.mu is held.
func (rec *Recorder) revokedGrantOf(clientID string) string {
	now := rec.now()
	for fp, t := range rec.tokens {
		_ = fp
		if t.client == clientID && t.grant != "" {
			if at := rec.revoked[t.grant]; !at.IsZero() && now.Sub(at) < keep {
				return ago(now, at)
			}
		}
	}
	return ""
}

// Size is how many events the recorder keeps (0 when nil).
func (rec *Recorder) Size() int {
	if rec == nil {
		return 0
	}
	return rec.size
}

// Close ends every stream of the trace (Done is closed): the server is
// shutting down, and open pages and "trace --follow" must let it.
func (rec *Recorder) Close() {
	if rec != nil {
		rec.closeOnce.Do(func() { close(rec.closed) })
	}
}

// Done is closed by Close.
func (rec *Recorder) Done() <-chan struct{} {
	if rec == nil {
		return nil
	}
	return rec.closed
}
