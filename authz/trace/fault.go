package trace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Fault kinds.
const (
	// FaultExpire expires the client's access tokens now (its refresh
	// tokens stay valid).
	FaultExpire = "expire"
	// FaultRevoke revokes the client's grants (access and refresh tokens).
	FaultRevoke = "revoke"
	// FaultRotateKey rotates the token signing key now.
	FaultRotateKey = "rotate-key"
	// FaultStepUp answers the client's next tools/call (of Tool, or any)
	// with 403 insufficient_scope for Scope.
	FaultStepUp = "step-up"
	// FaultToken503 answers the client's next token request with 503.
	FaultToken503 = "token-503"
	// FaultTokenInvalidGrant answers its next token request with
	// invalid_grant.
	FaultTokenInvalidGrant = "token-invalid-grant"
	// FaultDelay delays the client's next MCP response by Delay.
	FaultDelay = "delay"
)

// FaultKinds lists every fault kind, in the order the views offer them.
var FaultKinds = []string{FaultExpire, FaultRevoke, FaultRotateKey, FaultStepUp, FaultToken503, FaultTokenInvalidGrant, FaultDelay}

// Fault is one injection, on a client (and its user's grants).
type Fault struct {
	Kind     string        `json:"kind"`
	ClientID string        `json:"client_id"`
	Tool     string        `json:"tool,omitempty"`
	Scope    string        `json:"scope,omitempty"`
	Delay    time.Duration `json:"delay,omitempty"`
	// By is who injected it (an admin's name, or "cli").
	By string `json:"by,omitempty"`
}

// Describe says what the fault does, in plain words.
func (f Fault) Describe() string {
	switch f.Kind {
	case FaultExpire:
		return "access tokens expired now"
	case FaultRevoke:
		return "grant revoked"
	case FaultRotateKey:
		return "signing key rotated"
	case FaultStepUp:
		tool := f.Tool
		if tool == "" {
			tool = "any tool"
		}
		return "step-up demanded: the next tools/call of " + tool + " gets 403 insufficient_scope for " + f.Scope
	case FaultToken503:
		return "the next token request fails with 503"
	case FaultTokenInvalidGrant:
		return "the next token request fails with invalid_grant"
	case FaultDelay:
		return "the next MCP response is delayed by " + f.Delay.String()
	}
	return f.Kind
}

// Actions carry out the faults that change stored state; cmd wires them
// to the authorization server. A nil action makes its fault unavailable.
type Actions struct {
	// ExpireTokens deletes the access tokens of the user's grants to the
	// client, returning how many grants it touched.
	ExpireTokens func(ctx context.Context, userID, clientID string) (int, error)
	// RevokeGrants revokes the user's grants to the client.
	RevokeGrants func(ctx context.Context, userID, clientID string) (int, error)
	// RotateKey rotates the signing key now.
	RotateKey func(ctx context.Context) error
	// Audit records the injection in the audit log.
	Audit func(ctx context.Context, f Fault, detail string)
}

// SetActions installs the actions that carry out faults.
func (rec *Recorder) SetActions(a Actions) {
	if rec == nil {
		return
	}
	rec.mu.Lock()
	rec.actions = a
	rec.mu.Unlock()
}

// ErrFault is returned (wrapped) for a fault that cannot be injected.
var ErrFault = errors.New("cannot inject fault")

// faults are the armed one-shot faults and the watches awaiting a
// verdict.
type faults struct {
	token   map[string]Fault // by client: FaultToken503 or FaultTokenInvalidGrant
	mcp     map[string]Fault // by client: FaultStepUp or FaultDelay
	watches []*watch
}

// watch follows a client after a fault until its verdict.
type watch struct {
	f               Fault
	attempt         int
	peer            string // the client's address and User-Agent
	reregistered    bool
	since, last     time.Time
	fired           bool // the fault took effect (immediately, or at the client's next request)
	refreshed       bool
	signedIn        bool
	sawFail         bool
	delayedSeq      uint64
	done            bool
	expiredTokenFPs []string
}

// Inject carries out f, records it in the trace and starts watching the
// client for its verdict.
func (rec *Recorder) Inject(ctx context.Context, f Fault) (Event, error) {
	if rec == nil {
		return Event{}, fmt.Errorf("%w: the trace is off", ErrFault)
	}
	if !slices.Contains(FaultKinds, f.Kind) {
		return Event{}, fmt.Errorf("%w: unknown fault %q; use one of %s", ErrFault, f.Kind, strings.Join(FaultKinds, ", "))
	}
	if f.ClientID == "" {
		return Event{}, fmt.Errorf("%w: name the client (client_id)", ErrFault)
	}
	if f.Kind == FaultStepUp && strings.TrimSpace(f.Scope) == "" {
		return Event{}, fmt.Errorf("%w: step-up needs a scope", ErrFault)
	}
	if f.Kind == FaultDelay && (f.Delay <= 0 || f.Delay > 5*time.Minute) {
		return Event{}, fmt.Errorf("%w: delay must be between 1 s and 5 min", ErrFault)
	}
	rec.mu.Lock()
	act := rec.actions
	a := rec.att.byClient[f.ClientID]
	userID := ""
	if a != nil {
		userID = a.userID
	}
	rec.mu.Unlock()
	detail := f.Describe()
	switch f.Kind {
	case FaultExpire, FaultRevoke:
		if userID == "" {
			return Event{}, fmt.Errorf("%w: the trace has not seen client %s get a token for a user yet", ErrFault, f.ClientID)
		}
		do := act.ExpireTokens
		if f.Kind == FaultRevoke {
			do = act.RevokeGrants
		}
		if do == nil {
			return Event{}, fmt.Errorf("%w: %s is not available", ErrFault, f.Kind)
		}
		n, err := do(ctx, userID, f.ClientID)
		if err != nil {
			return Event{}, fmt.Errorf("%s: %w", f.Kind, err)
		}
		detail += fmt.Sprintf(" (%d grant(s))", n)
	case FaultRotateKey:
		if act.RotateKey == nil {
			return Event{}, fmt.Errorf("%w: key rotation is not available", ErrFault)
		}
		if err := act.RotateKey(ctx); err != nil {
			return Event{}, fmt.Errorf("rotate key: %w", err)
		}
	}
	if act.Audit != nil {
		act.Audit(ctx, f, detail)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	now := rec.now().UTC()
	e := Event{Time: now, Route: "fault " + f.Kind, ClientID: f.ClientID, ClientName: rec.names[f.ClientID],
		Outcome: Injected, Reason: "injected: " + detail, Hint: expectation(f)}
	if by := f.By; by != "" {
		e.Reason += " by " + by
	}
	// The fault starts a new attempt: what the client does next.
	na := rec.att.newAttempt(&e, "fault")
	if a != nil {
		na.userID, na.User, na.peer = a.userID, a.User, a.peer
		rec.att.byPeer[a.peer] = na
	}
	e.User = na.User
	e.Attempt = na.ID
	w := &watch{f: f, attempt: na.ID, since: now, last: now}
	if a != nil {
		w.peer = a.peer
	}
	switch f.Kind {
	case FaultExpire, FaultRevoke:
		w.fired = true
		for fp, t := range rec.tokens {
			if t.client == f.ClientID && (userID == "" || t.user == e.User || t.user == userID) {
				if f.Kind == FaultExpire {
					t.expired = true
					rec.tokens[fp] = t
				} else if t.grant != "" {
					rec.revoked[t.grant] = now
				}
				w.expiredTokenFPs = append(w.expiredTokenFPs, fp)
			}
		}
	case FaultRotateKey:
		w.fired = true
	case FaultToken503, FaultTokenInvalidGrant:
		if rec.faults.token == nil {
			rec.faults.token = map[string]Fault{}
		}
		rec.faults.token[f.ClientID] = f
	case FaultStepUp, FaultDelay:
		if rec.faults.mcp == nil {
			rec.faults.mcp = map[string]Fault{}
		}
		rec.faults.mcp[f.ClientID] = f
	}
	rec.faults.watches = append(rec.faults.watches, w)
	return rec.appendLocked(e), nil
}

// expectation is what a well-behaved client does after f.
func expectation(f Fault) string {
	switch f.Kind {
	case FaultExpire:
		return "Expected: on the next 401 the client refreshes its token and retries."
	case FaultRevoke:
		return "Expected: its refresh fails with invalid_grant and it signs in again."
	case FaultRotateKey:
		return "Expected: nothing visible; tokens signed with the old key stay valid and new ones use the new key (JWKS lists both)."
	case FaultStepUp:
		return "Expected: on the 403 the client authorizes again with the scope in WWW-Authenticate and retries the call."
	case FaultToken503:
		return "Expected: the client retries the token request after a pause."
	case FaultTokenInvalidGrant:
		return "Expected: the client drops its refresh token and signs in again."
	case FaultDelay:
		return "Expected: the client waits for the answer (or times out and retries) and carries on."
	}
	return ""
}

// tokenFault reports whether a token-endpoint fault is armed for the
// client of r (read from the body, which is restored for the handler).
func (rec *Recorder) tokenFault(r *http.Request) (Fault, bool) {
	rec.mu.Lock()
	armed := len(rec.faults.token) > 0
	rec.mu.Unlock()
	if !armed {
		return Fault{}, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	// The handler reads what was read, then the rest.
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	if err != nil {
		return Fault{}, false
	}
	form, _ := url.ParseQuery(string(body))
	id := form.Get("client_id")
	if u, _, ok := r.BasicAuth(); ok && id == "" {
		id, _ = url.QueryUnescape(u)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	f, ok := rec.faults.token[id]
	if ok {
		delete(rec.faults.token, id)
		rec.fireLocked(id, f.Kind)
	}
	return f, ok
}

// fireTokenFault answers a token request with the injected failure.
func (rec *Recorder) fireTokenFault(w http.ResponseWriter, r *http.Request, p *pending, f Fault) {
	p.readRequest(r, true)
	p.mu.Lock()
	p.note.ClientID = f.ClientID
	p.note.Cause = CauseTokenFaultInjected
	if gt := r.PostFormValue("grant_type"); gt != "" {
		p.form["grant_type"] = gt
	}
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	if f.Kind == FaultToken503 {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":"temporarily_unavailable","error_description":"injected fault: the token endpoint is unavailable; retry shortly"}`)
		return
	}
	w.WriteHeader(http.StatusBadRequest)
	_, _ = io.WriteString(w, `{"error":"invalid_grant","error_description":"injected fault: the grant is no longer valid"}`)
}

// Interception is what an armed fault does to an MCP request.
type Interception struct {
	// StepUpScope, when set, answers 403 insufficient_scope for it.
	StepUpScope string
	// Delay holds the response back this long.
	Delay time.Duration
}

// Intercept returns the armed MCP fault of the client for a request
// making calls (JSON-RPC methods, "tools/call NAME" for tool calls),
// disarming it. A request without calls (a GET stream) is never delayed.
func (rec *Recorder) Intercept(clientID string, calls []string) Interception {
	if rec == nil {
		return Interception{}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	f, ok := rec.faults.mcp[clientID]
	if !ok {
		return Interception{}
	}
	var tools []string
	for _, c := range calls {
		if name, ok := strings.CutPrefix(c, "tools/call "); ok {
			tools = append(tools, name)
		}
	}
	switch f.Kind {
	case FaultStepUp:
		if len(tools) == 0 || (f.Tool != "" && !slices.Contains(tools, f.Tool)) {
			return Interception{}
		}
		delete(rec.faults.mcp, clientID)
		rec.fireLocked(clientID, f.Kind)
		return Interception{StepUpScope: f.Scope}
	case FaultDelay:
		if len(calls) == 0 {
			return Interception{}
		}
		delete(rec.faults.mcp, clientID)
		rec.fireLocked(clientID, f.Kind)
		return Interception{Delay: f.Delay}
	}
	return Interception{}
}

func (rec *Recorder) fireLocked(clientID, kind string) {
	for _, w := range rec.faults.watches {
		if !w.done && w.f.ClientID == clientID && w.f.Kind == kind {
			w.fired = true
			w.last = rec.now()
		}
	}
}

// watchLocked moves the watches of e's client on, and records a verdict
// when one is reached. rec.mu is held.
func (rec *Recorder) watchLocked(e Event, n Note, a *Attempt, peer string) {
	if len(rec.faults.watches) == 0 {
		return
	}
	live := rec.faults.watches[:0]
	for _, w := range rec.faults.watches {
		if w.done {
			continue
		}
		// A client that registers again after the fault comes back under
		// a new client ID, from the same address and User-Agent.
		if (e.ClientID != "" && w.f.ClientID == e.ClientID) || (w.peer != "" && peer == w.peer && e.ClientID != "") {
			if w.f.ClientID != e.ClientID && e.Route == "POST /register" && e.Status == http.StatusCreated {
				w.reregistered = true
			}
			rec.watchStep(w, e, n, a)
		}
		if !w.done {
			live = append(live, w)
		}
	}
	rec.faults.watches = live
}

func (rec *Recorder) watchStep(w *watch, e Event, n Note, a *Attempt) {
	w.last = e.Time
	if !w.fired {
		return
	}
	mcp := isMCP(e.Route)
	switch {
	case e.Route == "POST /token" && e.Outcome == OK:
		if strings.HasPrefix(e.Step, "refresh_token") {
			w.refreshed = true
		} else {
			w.signedIn = true
		}
	case e.Outcome == Fail:
		w.sawFail = true
		if mcp && w.f.Kind == FaultDelay && w.delayedSeq == 0 {
			w.delayedSeq = e.Seq
		}
	case mcp && w.f.Kind == FaultDelay && w.delayedSeq == 0:
		w.delayedSeq = e.Seq // the delayed response itself
		return
	}
	if !mcp || e.Outcome != OK || e.Status >= 300 {
		return
	}
	if slices.Contains(w.expiredTokenFPs, e.Token) {
		return
	}
	var verdict string
	switch w.f.Kind {
	case FaultExpire, FaultRevoke, FaultRotateKey:
		switch {
		case w.refreshed:
			verdict = "refreshed and retried ✓"
		case w.reregistered:
			verdict = "registered again as a new client and signed in ✓ (it did not use its refresh token or its registration)"
		case w.signedIn && w.f.Kind == FaultExpire:
			verdict = "signed in again ✓ (it did not use a refresh token; a refresh would have spared the sign-in)"
		case w.signedIn:
			verdict = "signed in again ✓"
		default:
			verdict = "kept working ✓"
		}
	case FaultStepUp:
		if !n.ToolCall {
			return
		}
		verdict = "retried the call ✓"
		if w.signedIn {
			verdict = "stepped up and retried ✓"
		}
	case FaultToken503:
		verdict = "retried the token request and carried on ✓"
	case FaultTokenInvalidGrant:
		verdict = "carried on ✓"
		if w.signedIn {
			verdict = "signed in again ✓"
		}
	case FaultDelay:
		verdict = "waited for the slow answer and carried on ✓"
	}
	rec.verdictLocked(w, Passed, verdict, "")
}

func (rec *Recorder) verdictLocked(w *watch, outcome, reason, hint string) {
	w.done = true
	e := Event{Time: rec.now().UTC(), Attempt: w.attempt, Route: "verdict " + w.f.Kind, ClientID: w.f.ClientID,
		ClientName: rec.names[w.f.ClientID], Outcome: outcome, Reason: reason, Hint: hint}
	if a := rec.att.byID[w.attempt]; a != nil {
		e.User = a.User
		if outcome == Passed {
			a.State = Connected
		} else {
			a.State = Gone
		}
	}
	rec.appendLocked(e)
}

// Tick gives the verdicts that are due (a client silent for the quiet
// period after a fault has given up) and marks silent attempts stopped
// with a diagnosis. Run calls it every second.
func (rec *Recorder) Tick() {
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	now := rec.now()
	quiet := rec.quiet
	live := rec.faults.watches[:0]
	for _, w := range rec.faults.watches {
		switch {
		case w.done:
		case now.Sub(w.last) >= quiet:
			rec.verdictLocked(w, Failed, fmt.Sprintf("gave up: no request within %d s ✗", int(quiet.Seconds())), expectation(w.f))
		case now.Sub(w.since) >= 4*quiet:
			rec.verdictLocked(w, Failed, fmt.Sprintf("did not recover within %d s ✗", int((4*quiet).Seconds())), expectation(w.f))
		}
		if !w.done {
			live = append(live, w)
		}
	}
	rec.faults.watches = live
	for _, a := range rec.att.byID {
		if a.State != Open || now.Sub(a.Last) < quiet || rec.watching(a.ID) {
			continue
		}
		a.State = Gone
		if !a.challenged && a.ClientID == "" {
			continue // only metadata was read (a probe, a health check): nothing to diagnose
		}
		reason, hint := a.diagnose(rec.issuer)
		rec.appendLocked(Event{Time: now.UTC(), Attempt: a.ID, Route: "stopped", ClientID: a.ClientID, ClientName: a.ClientName,
			User: a.User, Outcome: Stopped, Reason: reason, Hint: hint})
	}
}

func (rec *Recorder) watching(attempt int) bool {
	for _, w := range rec.faults.watches {
		if w.attempt == attempt && !w.done {
			return true
		}
	}
	return false
}

// Run calls Tick every second until ctx ends.
func (rec *Recorder) Run(ctx context.Context) {
	if rec == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rec.Tick()
		}
	}
}
