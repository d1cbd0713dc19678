package trace

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// Attempt states.
const (
	// Open: the client is on its way.
	Open = "open"
	// Connected: it made a working tool call.
	Connected = "connected"
	// Gone: it stopped before a working tool call.
	Gone = "stopped"
)

// Attempt is one connection attempt: one client, from its first 401 to
// a working tool call, or to where it stopped.
type Attempt struct {
	ID         int       `json:"attempt"`
	ClientID   string    `json:"client_id"`
	ClientName string    `json:"client_name,omitempty"`
	User       string    `json:"user"`
	Start      time.Time `json:"start"`
	Last       time.Time `json:"last"`
	State      string    `json:"state"`

	peer   string
	userID string
	// What the client has done so far, for the diagnosis of a stop.
	challenged, prm, asm, registered, authorized, code, token, mcpOK bool
	lastFail                                                         string
	// missing is the scope a refused call needed, until the client asks
	// for it (step-up).
	missing []string
}

// Mark is the attempt's symbol: ✓ connected, ✗ stopped, … open.
func (a Attempt) Mark() string {
	switch a.State {
	case Connected:
		return "✓"
	case Gone:
		return "✗"
	}
	return "…"
}

type attempts struct {
	next     int
	byID     map[int]*Attempt
	byClient map[string]*Attempt // the latest attempt of each client
	byPeer   map[string]*Attempt // the latest attempt of each peer (address and User-Agent)
}

// keep bounds how long an attempt takes events: a client silent longer
// starts a new attempt.
const keep = 10 * time.Minute

func (as *attempts) newAttempt(e *Event, peer string) *Attempt {
	as.next++
	a := &Attempt{ID: as.next, ClientID: e.ClientID, ClientName: e.ClientName, User: e.User, Start: e.Time, Last: e.Time, State: Open, peer: peer}
	as.byID[a.ID] = a
	if a.ClientID != "" {
		as.byClient[a.ClientID] = a
	}
	as.byPeer[peer] = a
	// Bound the index: attempts whose events have all left the ring are
	// forgotten by prune.
	return a
}

// assign finds (or starts) the attempt of e.
func (as *attempts) assign(e *Event, peer string, mcp bool) *Attempt {
	if as.byClient == nil {
		as.byClient, as.byPeer = map[string]*Attempt{}, map[string]*Attempt{}
	}
	fresh := func(a *Attempt) bool { return a != nil && e.Time.Sub(a.Last) < keep && a.State != Gone }
	var a *Attempt
	if e.ClientID != "" {
		a = as.byClient[e.ClientID]
		if !fresh(a) {
			a = nil
			// A client's first events (the 401, discovery) came without
			// its ID: adopt the anonymous attempt of the same peer.
			if p := as.byPeer[peer]; fresh(p) && p.ClientID == "" {
				a = p
				a.ClientID = e.ClientID
				as.byClient[e.ClientID] = a
			}
		}
		// After a working tool call, a failure starts a new attempt (the
		// recovery from an expired token, a revocation, a step-up).
		if a != nil && a.State == Connected && mcp && e.Outcome == Fail {
			a = nil
		}
	} else {
		a = as.byPeer[peer]
		if !fresh(a) || (a.State == Connected && mcp && e.Status == http.StatusUnauthorized) {
			a = nil
		}
	}
	if a == nil {
		a = as.newAttempt(e, peer)
	}
	a.Last = e.Time
	if a.ClientName == "" {
		a.ClientName = e.ClientName
	}
	if a.User == "" {
		a.User = e.User
	}
	as.byPeer[peer] = a
	return a
}

// prune forgets the attempts numbered below before (their events have
// left the ring), and the client and peer entries that point to them, so
// that the index stays bounded however many clients come and go.
func (as *attempts) prune(before int) {
	for id := range as.byID {
		if id < before {
			delete(as.byID, id)
		}
	}
	for k, a := range as.byClient {
		if a.ID < before {
			delete(as.byClient, k)
		}
	}
	for k, a := range as.byPeer {
		if a.ID < before {
			delete(as.byPeer, k)
		}
	}
}

// progress updates what the attempt has done with e, and marks a working
// tool call.
func (a *Attempt) progress(e *Event, n Note) {
	route := e.Route
	switch {
	case strings.Contains(route, "/.well-known/oauth-protected-resource"):
		a.prm = a.prm || e.Status == http.StatusOK
	case strings.Contains(route, "/.well-known/oauth-authorization-server"), strings.Contains(route, "/.well-known/openid-configuration"):
		a.asm = a.asm || e.Status == http.StatusOK
	case strings.HasSuffix(route, " /register"):
		a.registered = a.registered || e.Status == http.StatusCreated
	case strings.HasSuffix(route, " /authorize"):
		a.authorized = true
		if strings.HasPrefix(e.Step, "code issued") {
			a.code = true
		}
	case route == "POST /token":
		a.token = a.token || e.Outcome == OK
	case isMCP(route):
		if e.Status == http.StatusUnauthorized {
			a.challenged = true
		}
		if e.Outcome == OK && e.Status < 300 {
			a.mcpOK = true
			if n.ToolCall && a.State == Open {
				a.State = Connected
			}
		}
	}
	if e.Outcome == Fail {
		a.lastFail = e.Reason
	}
}

func isMCP(route string) bool {
	_, path, _ := strings.Cut(route, " ")
	return path == "/mcp" || strings.HasPrefix(path, "/mcp/")
}

// diagnose says why an attempt stopped, from how far it got.
func (a *Attempt) diagnose(issuer string) (reason, hint string) {
	switch {
	case len(a.missing) > 0:
		return "the client did not step up after the 403: it never asked for " + strings.Join(a.missing, " "),
			"On 403 insufficient_scope the client must authorize again with the scope in WWW-Authenticate (RFC 6750 §3.1; the MCP spec's step-up authorization), then retry."
	case a.lastFail != "" && !a.mcpOK:
		return "stopped after a failure: " + a.lastFail, "Fix the failure above; the client gave up there."
	case a.challenged && !a.prm && !a.asm && !a.authorized:
		return "the client never fetched the protected resource metadata after the 401",
			"The 401's WWW-Authenticate names resource_metadata=\"…/.well-known/oauth-protected-resource/mcp\"; the client must GET it (RFC 9728), then the authorization server metadata it lists. Check that the client supports MCP authorization."
	case a.prm && !a.asm && !a.authorized:
		return "the client fetched the protected resource metadata but never the authorization server metadata",
			"Fetch " + issuer + "/.well-known/oauth-authorization-server (the authorization_servers entry of the metadata, byte for byte)."
	case a.asm && !a.registered && !a.authorized:
		return "the client read the metadata but never registered or started a sign-in",
			"Register at " + issuer + "/register (dynamic registration), use a client ID metadata document URL as client_id, or pre-register with \"tenantless client add\"."
	case a.authorized && !a.code:
		return "the sign-in or consent was never completed",
			"The browser page was left open or closed; check that the client opened the browser and is listening on its redirect URI."
	case a.code && !a.token:
		return "the client got an authorization code but never exchanged it at /token",
			"Check that the client's redirect URI handler receives the code and posts it with its code_verifier to " + issuer + "/token."
	case a.token && !a.mcpOK:
		return "the client got a token but never called the MCP endpoint with it",
			"Check that it sends Authorization: Bearer <token> to the MCP URL the token was issued for."
	}
	return "the client stopped before a working tool call", "Connect again and call a tool; the steps above show how far it got."
}

// stepUp records a refused call's missing scope, and says whether an
// authorization request asks for it.
func (a *Attempt) stepUp(e *Event, n Note, scopeParam string) {
	switch {
	case isMCP(e.Route) && len(n.Missing) > 0:
		a.missing = n.Missing
	case strings.HasSuffix(e.Route, " /authorize") && len(a.missing) > 0 && scopeParam != "":
		asked := strings.Fields(scopeParam)
		ok := true
		for _, m := range a.missing {
			ok = ok && slices.Contains(asked, m)
		}
		if ok {
			e.Reason = "step-up: the client asks again with the missing scope " + strings.Join(a.missing, " ") + " ✓"
			a.missing = nil
		} else if e.Reason == "" {
			e.Reason = "the client asked again without the missing scope " + strings.Join(a.missing, " ")
			e.Hint = "Ask for the scope listed in the 403's WWW-Authenticate (it includes the ones already granted)."
		}
	case isMCP(e.Route) && e.Outcome == OK && len(a.missing) > 0 && n.ToolCall:
		a.missing = nil
	}
}

// IndexSize is how many attempts, client and peer entries the recorder
// indexes (for tests of its bounds).
func (rec *Recorder) IndexSize() int {
	if rec == nil {
		return 0
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.att.byID) + len(rec.att.byClient) + len(rec.att.byPeer)
}
