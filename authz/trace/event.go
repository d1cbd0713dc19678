package trace

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Outcomes of an event.
const (
	// OK is a step that went as it should (including the normal first
	// 401 of a client without a token).
	OK = "ok"
	// Fail is a step that failed; Reason and Hint say why and what to do.
	Fail = "fail"
	// Injected is a fault an admin injected.
	Injected = "fault"
	// Passed is a verdict: the client survived the fault.
	Passed = "passed"
	// Failed is a verdict: the client did not recover from the fault.
	Failed = "failed"
	// Stopped says an attempt stopped before a working tool call.
	Stopped = "stopped"
)

// Event is one step of a client's connection. Its JSON form (one object
// per line from "tenantless trace --json") is stable: time, attempt,
// route, client_id, user, status, outcome, reason and hint always appear.
type Event struct {
	// Seq numbers events from 1 in the order they were recorded.
	Seq uint64 `json:"seq"`
	// Time is when the request arrived (or the fault was injected).
	Time time.Time `json:"time"`
	// Attempt is the connection attempt the event belongs to.
	Attempt int `json:"attempt"`
	// Route is the method and path, e.g. "POST /token".
	Route string `json:"route"`
	// Step says what the request did, e.g. "refresh_token grant" or
	// "tools/call get_forecast"; empty when the route says it all.
	Step string `json:"step,omitempty"`
	// ClientID and ClientName identify the client, when known.
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name,omitempty"`
	// User is the signed-in user's name (or token subject), when known.
	User string `json:"user"`
	// Status is the HTTP status answered (0 for faults and verdicts).
	Status int `json:"status"`
	// Outcome is OK, Fail, Injected, Passed, Failed or Stopped.
	Outcome string `json:"outcome"`
	// Reason says in plain words what happened (always for failures).
	Reason string `json:"reason"`
	// Hint says what to change (or what the client should do next).
	Hint string `json:"hint"`
	// Token is the fingerprint of the access token the step used or got.
	Token string `json:"token,omitempty"`
	// Grant is the fingerprint of the grant (authorization) involved.
	Grant string `json:"grant,omitempty"`
	// Host is the Host header the client used.
	Host string `json:"host,omitempty"`
}

// Mark is the timeline symbol of the event: ✓ for success, ✗ for a
// failure, ⚡ for an injected fault, ■ for a stop.
func (e Event) Mark() string {
	switch e.Outcome {
	case OK, Passed:
		return "✓"
	case Injected:
		return "⚡"
	case Stopped:
		return "■"
	}
	return "✗"
}

// Fingerprint identifies a secret (a token, a code, a grant ID) without
// revealing it: the first 8 hex digits of its SHA-256. Empty for "".
func Fingerprint(secret string) string {
	if secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(secret))
	return FingerprintSum(sum)
}

// FingerprintSum is Fingerprint of a secret whose SHA-256 is sum.
func FingerprintSum(sum [32]byte) string {
	if sum == ([32]byte{}) {
		return ""
	}
	return hex.EncodeToString(sum[:4])
}

// Note is what a package that handled a request adds to its event. Zero
// fields add nothing. No field may hold a secret: tokens and grant IDs go
// in as fingerprints.
type Note struct {
	ClientID   string
	ClientName string
	// User is the user's name; UserID the token subject, which the
	// recorder maps to the name once it has seen both.
	User   string
	UserID string
	// Grant is the fingerprint of the grant's request ID.
	Grant string
	// Token is the fingerprint of the access token used or issued.
	Token string
	// Expiry is the access token's expiry, when Token is issued or used.
	Expiry time.Time
	// Issued says the request issued Token (a token response).
	Issued bool
	// Cause names a known failure cause (the Cause* constants).
	Cause string
	// Detail completes Cause (the field refused, the error seen).
	Detail string
	// RedirectURI is the redirect URI a request asked for; Registered
	// the client's registered ones.
	RedirectURI string
	Registered  []string
	// Resource is the resource (MCP URL) asked for or used.
	Resource string
	// Audience is the token's audience, when it matters.
	Audience []string
	// Scopes are the token's or request's scopes; Missing the ones a
	// call needed and the token lacked.
	Scopes  []string
	Missing []string
	// Step says what the request did (see Event.Step).
	Step string
	// ToolCall says the request was a tools/call.
	ToolCall bool
	// Fetched is the URL of a client metadata document the request
	// fetched; it becomes an event of its own, failed when Cause is
	// CauseCIMD.
	Fetched string
}

// Known failure causes a Note names.
const (
	CauseUnknownClient        = "unknown_client"
	CauseRedirectUnregistered = "redirect_uri_unregistered"
	CausePKCEMissing          = "pkce_missing"
	CauseUnknownResource      = "unknown_resource"
	CauseConsentDenied        = "consent_denied"
	CauseCIMD                 = "cimd"
	CauseRefreshReuse         = "refresh_reuse"
	CauseRegistration         = "registration_refused"
	CauseNoToken              = "no_token"
	CauseBadHeader            = "malformed_authorization"
	CauseInvalidToken         = "invalid_token"
	CauseWrongAudience        = "wrong_audience"
	CauseInsufficientScope    = "insufficient_scope"
	CauseBadOrigin            = "forbidden_origin"
	CauseSignInFailed         = "sign_in_failed"
	CauseStepUpInjected       = "step_up_injected"
	CauseTokenFaultInjected   = "token_fault_injected"
)
