package cimd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tenantless/tenantless/authz/redirecturi"
)

// Grant and response types tenantless supports for metadata-document clients.
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	responseTypeCode       = "code"
	authMethodNone         = "none"
)

// Document is a validated client metadata document: the RFC 7591 §2 client
// metadata of a public client whose client_id is the document's URL. Fields
// the document leaves out get the RFC 7591 defaults; fields tenantless does
// not support are dropped (see Parse).
type Document struct {
	// ClientID is the document URL, equal to the document's client_id.
	ClientID string
	// ClientName is the client_name to show on the consent page (may be
	// empty; show the ClientID host then).
	ClientName string
	// ClientURI is the client_uri, kept only when it is an https URL.
	ClientURI string
	// LogoURI is the logo_uri, kept only when it is an https URL. Do not
	// hot-link it without checking where it points (CIMD §6.7).
	LogoURI string
	// RedirectURIs are the registered redirect URIs, in document order.
	// Matching them (exactly, or any port on http loopback per RFC 8252
	// §7.3) is the caller's job.
	RedirectURIs []string
	// GrantTypes holds only authorization_code and refresh_token, in
	// document order; [authorization_code] when the document has none.
	GrantTypes []string
	// ResponseTypes is always [code]: the only response type supported.
	ResponseTypes []string
	// TokenEndpointAuthMethod is always "none": metadata-document clients
	// are public clients.
	TokenEndpointAuthMethod string
	// ApplicationType is the application_type ("native", "web" or
	// whatever the document says), informational.
	ApplicationType string
	// Scope is the document's scope value, informational; do not derive
	// permissions from it.
	Scope string
	// Raw is the document exactly as fetched (or as given to Parse).
	Raw []byte
	// FetchedAt is when Resolve received the document; zero from Parse.
	FetchedAt time.Time
	// ExpiresAt is when Resolve will fetch the document again; zero from
	// Parse. Store it as the client record's expiry: it is also how long
	// one copy serves an authorization under way (the /authorize and
	// /token steps), at least Config.MinTTL.
	ExpiresAt time.Time
	// Revalidate is true when the document was served with Cache-Control
	// no-store, no-cache or max-age=0: it is to be fetched again for every
	// new authorization request (Resolve does, within the per-document
	// Config.RefetchInterval), while an authorization under way keeps its
	// copy until ExpiresAt.
	Revalidate bool
}

// clone returns a deep copy of d, so the cache never shares slices with
// callers.
func (d Document) clone() Document {
	d.RedirectURIs = slices.Clone(d.RedirectURIs)
	d.GrantTypes = slices.Clone(d.GrantTypes)
	d.ResponseTypes = slices.Clone(d.ResponseTypes)
	d.Raw = bytes.Clone(d.Raw)
	return d
}

// Parse validates body as the client metadata document for clientID and
// returns its contents (draft-ietf-oauth-client-id-metadata-document-01
// §4). It does not limit the size of body; Resolve does. The rules:
//
//   - clientID passes ValidateURL;
//   - body is UTF-8 and a single JSON object with no member named twice
//     (member names match exactly, not case-insensitively);
//   - client_id is a string equal to clientID under simple string
//     comparison (RFC 3986 §6.2.1);
//   - client_secret and client_secret_expires_at are absent (§4.1);
//   - token_endpoint_auth_method is absent or "none": shared-secret
//     methods are forbidden (§4.1) and private_key_jwt is not supported;
//   - redirect_uris is a non-empty array of valid redirect URIs: https;
//     http only on localhost, 127.0.0.1 or [::1]; or a private-use scheme
//     with a dot (RFC 8252 §7.1); never a fragment or user information;
//   - grant_types, when present, includes authorization_code; other
//     grant types than authorization_code and refresh_token (device_code,
//     for example, which VS Code lists) are dropped, not refused;
//   - response_types, when present, includes code; others are dropped;
//   - client_name, client_uri, logo_uri, application_type and scope are
//     strings when present; client_uri and logo_uri are dropped unless
//     they are https URLs, since a consent page would link to them.
//
// Unknown members are ignored. A failure is an *Error of KindInvalidURL,
// KindNotJSON, KindMismatch or KindInvalidMetadata.
func Parse(clientID string, body []byte) (Document, error) {
	return parse(clientID, body, false)
}

// parse is Parse; fetched says whether body came from clientID (which
// changes only the wording of a mismatch).
func parse(clientID string, body []byte, fetched bool) (Document, error) {
	if _, err := parseClientIDURL(clientID); err != nil {
		return Document{}, err
	}
	invalid := func(format string, args ...any) (Document, error) {
		return Document{}, newError(KindInvalidMetadata, clientID, nil,
			docAt(clientID)+" is invalid: "+format, args...)
	}
	m, err := decodeObject(body)
	if err != nil {
		var dup duplicateError
		if errors.As(err, &dup) {
			return invalid("it has the member %q more than once", string(dup))
		}
		return Document{}, newError(KindNotJSON, clientID, err, "%s is not a JSON object: %v", docAt(clientID), err)
	}

	var d Document
	id, ok, err := stringMember(m, "client_id")
	switch {
	case err != nil:
		return invalid("%v", err)
	case !ok:
		return invalid("it has no client_id; it must contain \"client_id\": %q", clientID)
	case id != clientID && fetched:
		return Document{}, newError(KindMismatch, clientID, nil,
			"%s says client_id %q but was fetched from %q; the two must be identical", docAt(clientID), id, clientID)
	case id != clientID:
		return Document{}, newError(KindMismatch, clientID, nil,
			"%s says client_id %q; it must be exactly the document's URL, %q", docAt(clientID), id, clientID)
	}
	d.ClientID = id

	for _, name := range []string{"client_secret", "client_secret_expires_at"} {
		if _, ok := m[name]; ok {
			return invalid("it contains %s; metadata-document clients are public clients and must not carry a secret", name)
		}
	}

	method, ok, err := stringMember(m, "token_endpoint_auth_method")
	switch {
	case err != nil:
		return invalid("%v", err)
	case !ok || method == authMethodNone:
	case method == "private_key_jwt":
		return invalid("token_endpoint_auth_method is private_key_jwt, which tenantless does not support; use \"none\"")
	case strings.HasPrefix(method, "client_secret_"):
		return invalid("token_endpoint_auth_method is %s, a shared-secret method, which a metadata-document client must not use; use \"none\"", method)
	default:
		return invalid("token_endpoint_auth_method %q is not supported; use \"none\"", method)
	}
	d.TokenEndpointAuthMethod = authMethodNone

	uris, ok, err := stringsMember(m, "redirect_uris")
	switch {
	case err != nil:
		return invalid("%v", err)
	case !ok || len(uris) == 0:
		return invalid("redirect_uris is missing or empty; list at least one redirect URI")
	}
	for i, u := range uris {
		if err := redirecturi.Validate(u); err != nil {
			return invalid("redirect_uris[%d] %q: %v", i, u, err)
		}
	}
	d.RedirectURIs = uris

	grants, ok, err := stringsMember(m, "grant_types")
	if err != nil {
		return invalid("%v", err)
	}
	if !ok {
		grants = []string{grantAuthorizationCode}
	}
	if !slices.Contains(grants, grantAuthorizationCode) {
		return invalid("grant_types %q does not include authorization_code, the only grant tenantless supports for these clients", grants)
	}
	d.GrantTypes = keepOnly(grants, grantAuthorizationCode, grantRefreshToken)

	responses, ok, err := stringsMember(m, "response_types")
	if err != nil {
		return invalid("%v", err)
	}
	if ok && !slices.Contains(responses, responseTypeCode) {
		return invalid("response_types %q does not include code, the only response type tenantless supports", responses)
	}
	d.ResponseTypes = []string{responseTypeCode}

	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"client_name", &d.ClientName},
		{"client_uri", &d.ClientURI},
		{"logo_uri", &d.LogoURI},
		{"application_type", &d.ApplicationType},
		{"scope", &d.Scope},
	} {
		s, _, err := stringMember(m, f.name)
		if err != nil {
			return invalid("%v", err)
		}
		*f.dst = s
	}
	if !isHTTPSURL(d.ClientURI) {
		d.ClientURI = ""
	}
	if !isHTTPSURL(d.LogoURI) {
		d.LogoURI = ""
	}
	d.Raw = bytes.Clone(body)
	return d, nil
}

// duplicateError names a member that occurs twice in a JSON object.
// Parsers disagree on which occurrence wins, so such documents are refused.
type duplicateError string

func (e duplicateError) Error() string { return fmt.Sprintf("member %q appears twice", string(e)) }

// decodeObject decodes body as exactly one JSON object and returns its
// members undecoded. Unlike json.Unmarshal into a struct it keeps member
// names exact and notices duplicates.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(body) {
		return nil, errors.New("it is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("it is empty")
		}
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("it is a JSON %s", jsonKind(tok))
	}
	m := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("malformed object member name")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := m[key]; dup {
			return nil, duplicateError(key)
		}
		m[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("it has data after the JSON object")
	}
	return m, nil
}

// jsonKind names the JSON type of a first token, for messages.
func jsonKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "array"
		}
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "value"
}

// stringMember returns member name as a string; ok is false when it is
// absent or null.
func stringMember(m map[string]json.RawMessage, name string) (s string, ok bool, err error) {
	raw, present := m[name]
	if !present || string(raw) == "null" {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, fmt.Errorf("%s must be a string", name)
	}
	return s, true, nil
}

// stringsMember returns member name as a list of strings; ok is false when
// it is absent or null.
func stringsMember(m map[string]json.RawMessage, name string) (ss []string, ok bool, err error) {
	raw, present := m[name]
	if !present || string(raw) == "null" {
		return nil, false, nil
	}
	if err := json.Unmarshal(raw, &ss); err != nil {
		return nil, false, fmt.Errorf("%s must be an array of strings", name)
	}
	if ss == nil {
		ss = []string{}
	}
	return ss, true, nil
}

// keepOnly returns the members of list that are in allowed, without
// duplicates, in list order.
func keepOnly(list []string, allowed ...string) []string {
	var out []string
	for _, s := range list {
		if slices.Contains(allowed, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// isHTTPSURL reports whether s is an absolute https URL (scheme in lower
// case) with a host and no user information.
func isHTTPSURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && strings.HasPrefix(s, "https://") && u.Host != "" && u.User == nil
}
