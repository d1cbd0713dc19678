package resource

import (
	"strings"
	"time"
)

// What the MCP endpoint decided about a request (Observation.Outcome).
const (
	ObservedOK                = "ok"
	ObservedNoToken           = "no_token"
	ObservedMalformed         = "malformed_authorization"
	ObservedInvalidToken      = "invalid_token"
	ObservedWrongAudience     = "wrong_audience"
	ObservedInsufficientScope = "insufficient_scope"
	ObservedStepUpInjected    = "step_up_injected"
)

// Observation is what the MCP endpoint decided about one request, for an
// observer (the auth trace). It never holds the token itself.
type Observation struct {
	// Outcome is one of the Observed* constants.
	Outcome string
	// Resource is the resource URL the request used.
	Resource string
	// TokenSHA256 is the SHA-256 of the bearer token (zero without one).
	TokenSHA256 [32]byte
	// Token is what the verifier said about the token (zero when it
	// refused it).
	Token TokenInfo
	// Calls are the request's JSON-RPC calls: the method, or
	// "tools/call NAME".
	Calls []string
	// Missing are the scopes a call needed and the token lacked.
	Missing []string
}

// Tools returns the names of the tools the request calls.
func (o Observation) Tools() []string {
	var out []string
	for _, c := range o.Calls {
		if name, ok := strings.CutPrefix(c, "tools/call "); ok {
			out = append(out, name)
		}
	}
	return out
}

// Interception is what an injected fault does to an authorized request.
type Interception struct {
	// StepUpScope, when set, answers 403 insufficient_scope demanding it.
	StepUpScope string
	// Delay holds the request back this long before it is served.
	Delay time.Duration
}
