package web

// LoginPage is the data for the sign-in page. The form posts username,
// password, csrf_token and next to Action.
type LoginPage struct {
	// Action is the form's action URL, for example "/login".
	Action string
	// Next is carried in the hidden input "next": where to continue after
	// sign-in.
	Next string
	// CSRFToken is carried in the hidden input "csrf_token".
	CSRFToken string
	// Username pre-fills the username field after a failed attempt; when set,
	// the password field gets the focus instead.
	Username string
	// Error is shown above the form, for example "Wrong username or password.".
	// Empty shows nothing.
	Error string
	// ClientName, when set, adds "Sign in to continue to {ClientName}".
	ClientName string
}

// Scope is one requested OAuth scope (RFC 6749 §3.3) as the consent page
// lists it.
type Scope struct {
	// Name is the scope token, shown in monospace.
	Name string
	// Description says in plain words what the scope allows; may be empty.
	Description string
}

// Field is one hidden form input, rendered as
// <input type="hidden" name="{Name}" value="{Value}">.
type Field struct {
	// Name is the input's name.
	Name string
	// Value is the input's value.
	Value string
}

// ConsentPage is the data for the consent page: one form that posts
// csrf_token, the Hidden fields and decision=allow or decision=deny to Action.
//
// It shows what the MCP authorization spec asks a consent screen to show: the
// client's name, its client ID (and, for a Client ID Metadata Document, the
// host that serves it), the redirect host, the requested scopes and
// resources, and a warning when the client can only redirect to localhost.
type ConsentPage struct {
	// Action is the form's action URL (POST), for example "/authorize".
	Action string
	// CSRFToken is carried in the hidden input "csrf_token".
	CSRFToken string
	// Hidden are more hidden inputs carried through (the original
	// authorization request parameters), rendered in order after csrf_token.
	// Fields named "csrf_token" or "decision" are not rendered: they would
	// come before the real token or the pressed button in the posted form, so
	// a crafted authorization request could otherwise decide for the user.
	Hidden []Field
	// Username is the signed-in user ("Signed in as …"); empty shows nothing.
	Username string
	// ClientName is the client's self-declared name. Empty shows
	// "An unnamed application".
	ClientName string
	// ClientID is the client_id, shown in monospace.
	ClientID string
	// ClientIDHost is non-empty when the client ID is a URL (a Client ID
	// Metadata Document); the page then says "Client ID document hosted at
	// {ClientIDHost}". It makes no claim that the client is verified.
	ClientIDHost string
	// RedirectHost is the host the user will be sent back to, shown
	// prominently next to the buttons.
	RedirectHost string
	// LocalhostOnly shows a warning that every redirect URI of this client is
	// on this computer, so only a trusted local application should be allowed.
	LocalhostOnly bool
	// Scopes are the requested scopes with their descriptions.
	Scopes []Scope
	// Resources are the resources (RFC 8707) the access is for, shown by
	// name and URL next to the scopes; the section is left out when there
	// are none.
	Resources []Resource
}

// Resource is a protected resource (an MCP server) on the consent page.
type Resource struct {
	// Name is the operator's name for it, e.g. "Notes".
	Name string
	// URL is the resource URL the token will be issued for (its audience).
	URL string
	// Description optionally says what it is.
	Description string
}

// ErrorPage is the data for the error page shown to a person when the
// authorization flow cannot go on (for example an unknown client or a
// redirect URI that does not match, where RFC 6749 §4.1.2.1 forbids
// redirecting the error back to the client).
type ErrorPage struct {
	// Title is the short heading, for example "Unknown application". Empty
	// shows "Something went wrong".
	Title string
	// Message says what went wrong, for a person.
	Message string
	// Code is an optional machine code, for example "invalid_client", shown
	// small.
	Code string
	// Hint optionally says what to do next.
	Hint string
	// Details are optional lines shown under the message, for example
	// the redirect URIs a client's metadata document lists; a line
	// starting with two spaces is shown indented, as an item of the line
	// before.
	Details []string
}

// AccountPage is the signed-in user's page: the applications they have
// authorized, each with a revoke button, and sign-out. Revoke buttons
// post client_id and csrf_token to RevokeAction; sign-out posts
// csrf_token to LogoutAction.
type AccountPage struct {
	Username     string
	CSRFToken    string
	RevokeAction string // e.g. "/account/revoke"
	LogoutAction string // e.g. "/logout"
	// Notice is a message shown at the top, e.g. after a revocation.
	Notice string
	Apps   []AccountApp
}

// AccountApp is one application the user has authorized.
type AccountApp struct {
	ClientName string
	ClientID   string
	// ClientIDHost is set when the client ID is a metadata-document URL.
	ClientIDHost string
	Scopes       []string
	Resources    []string
	// GrantedAt and LastUsedAt are formatted times ("" when unknown).
	GrantedAt  string
	LastUsedAt string
	// ActiveTokens counts the live access and refresh tokens of the grant.
	ActiveTokens int
}

// TracePage is the data for the live auth trace (/trace), shown to admin
// users: connection attempts, newest first, each a timeline of events,
// with forms that inject faults. Each fault form posts csrf_token, kind,
// client_id and the fault's options (tool, scope, delay) to FaultAction.
type TracePage struct {
	// Username is the signed-in admin.
	Username string
	// CSRFToken is carried in every form's hidden input "csrf_token".
	CSRFToken string
	// FaultAction is the fault forms' action URL (POST).
	FaultAction string
	// EventsURL is the server-sent events stream the page's script reads
	// to show new events without reloading.
	EventsURL string
	// Client and User are the current filter (empty: all).
	Client string
	User   string
	// Clients and Users are the filter's choices.
	Clients []TraceOption
	Users   []string
	// Scopes are the scopes a step-up fault may demand.
	Scopes []string
	// Notice is shown above the attempts (a fault that failed); Error
	// marks it as an error.
	Notice string
	Error  bool
	// Attempts are the connection attempts, newest first.
	Attempts []TraceAttempt
	// Size is how many events the server keeps.
	Size int
}

// TraceOption is one choice of a select.
type TraceOption struct {
	Value, Label string
}

// TraceAttempt is one connection attempt.
type TraceAttempt struct {
	ID         int
	ClientID   string
	ClientName string
	User       string
	// State is "open", "connected" or "stopped"; Mark its symbol.
	State string
	Mark  string
	Start string
	// Events are the attempt's steps, oldest first.
	Events []TraceEvent
}

// TraceEvent is one step of an attempt.
type TraceEvent struct {
	Seq     uint64
	Time    string
	Route   string
	Step    string
	Status  int
	Outcome string
	// Mark is ✓, ✗, ⚡ or ■.
	Mark   string
	Reason string
	Hint   string
	Token  string
}
