package cimd

import (
	"errors"
	"fmt"
)

// Kind classifies why a client metadata document could not be used, so the
// authorization server can pick its response (invalid_client for a bad
// document, a retry hint for KindBusy) without parsing messages.
type Kind int

// The kinds of failure. The zero Kind is never used by this package.
const (
	// KindInvalidURL: the client_id is not an acceptable document URL
	// (draft-ietf-oauth-client-id-metadata-document §3).
	KindInvalidURL Kind = iota + 1
	// KindNotAllowed: the host is outside Config.AllowDomains.
	KindNotAllowed
	// KindBlockedAddress: the host is, or resolves to, a special-use
	// address (RFC 6890) and is not listed in Config.AllowHosts.
	KindBlockedAddress
	// KindTimeout: the server did not answer within Config.Timeout.
	KindTimeout
	// KindStatus: the server answered with a status other than 200 or 3xx.
	KindStatus
	// KindRedirect: the server answered with a redirect, which is never
	// followed.
	KindRedirect
	// KindTooLarge: the body is larger than Config.MaxBytes.
	KindTooLarge
	// KindNotJSON: the body is not a single JSON object in UTF-8.
	KindNotJSON
	// KindMismatch: the document's client_id differs from its URL.
	KindMismatch
	// KindInvalidMetadata: the document breaks a metadata rule
	// (redirect_uris, authentication method, secrets, grant types).
	KindInvalidMetadata
	// KindNetwork: name resolution, connection or TLS failed.
	KindNetwork
	// KindBusy: too many fetches were running for too long.
	KindBusy
	// KindCanceled: the caller's context ended before the result was known.
	KindCanceled
)

var kindNames = map[Kind]string{
	KindInvalidURL:      "invalid_url",
	KindNotAllowed:      "not_allowed",
	KindBlockedAddress:  "blocked_address",
	KindTimeout:         "timeout",
	KindStatus:          "status",
	KindRedirect:        "redirect",
	KindTooLarge:        "too_large",
	KindNotJSON:         "not_json",
	KindMismatch:        "mismatch",
	KindInvalidMetadata: "invalid_metadata",
	KindNetwork:         "network",
	KindBusy:            "busy",
	KindCanceled:        "canceled",
}

// String returns a short snake_case name for k, suitable as a log value.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is the only error type this package returns. Its message is a full
// sentence meant for the person who has to fix the problem (the client's
// developer or the operator), so it can be shown on an error page as is; it
// never contains secrets because documents must not carry any.
type Error struct {
	// Kind says what went wrong.
	Kind Kind
	// ClientID is the client_id (document URL) concerned.
	ClientID string
	// Msg is the human-readable explanation returned by Error.
	Msg string
	// Err is the underlying cause, if any (for example a net.OpError or
	// context.Canceled); it is reachable with errors.Is and errors.As.
	Err error
}

// Error returns the human-readable message.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error of the same Kind, so that
// errors.Is(err, &cimd.Error{Kind: cimd.KindTimeout}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind
}

// KindOf returns the Kind of the first *Error in err's chain, or 0 if
// there is none.
func KindOf(err error) Kind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	return 0
}

// newError builds an *Error with a formatted message.
func newError(kind Kind, clientID string, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, ClientID: clientID, Msg: fmt.Sprintf(format, args...), Err: cause}
}

// docAt names the document in messages.
func docAt(clientID string) string {
	return "the client metadata document at " + clientID
}
