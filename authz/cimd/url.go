package cimd

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// maxURLLength bounds a client_id URL. Real ones are well under 100
// characters; the bound keeps hostile values out of logs and the database.
const maxURLLength = 2048

// IsClientIDURL reports whether clientID names a client metadata document,
// which the MCP authorization spec defines as starting with "https://".
// Identifiers the server generates (DCR, static) never do, so the two
// spaces cannot collide (draft-ietf-oauth-client-id-metadata-document-01 §3).
// A clientID for which this is true must still pass ValidateURL.
func IsClientIDURL(clientID string) bool {
	return strings.HasPrefix(clientID, "https://")
}

// ValidateURL checks clientID against the URL rules of
// draft-ietf-oauth-client-id-metadata-document §3 as tightened by the MCP
// clients: scheme https; a host (DNS name or canonical IP literal, no
// percent-encoding, no trailing dot); an optional port 1-65535; a path other
// than "/" without "." or ".." segments (also when percent-encoded as %2e)
// and without encoded slashes or backslashes (%2f, %5c);
// no query (the draft says SHOULD NOT, we refuse); no fragment; no
// userinfo; only characters RFC 3986 allows; at most 2048 bytes. It returns
// nil or an *Error of KindInvalidURL.
func ValidateURL(clientID string) error {
	if _, err := parseClientIDURL(clientID); err != nil {
		return err
	}
	return nil
}

// parseClientIDURL validates clientID (see ValidateURL) and returns it parsed.
func parseClientIDURL(clientID string) (*url.URL, error) {
	bad := func(reason string, args ...any) (*url.URL, error) {
		return nil, invalidURL(clientID, reason, args...)
	}
	if len(clientID) > maxURLLength {
		return nil, newError(KindInvalidURL, clientID, nil,
			"client_id is %d bytes long; a client metadata document URL may be at most %d", len(clientID), maxURLLength)
	}
	if !IsClientIDURL(clientID) {
		return bad("it must start with https://")
	}
	for i := 0; i < len(clientID); i++ {
		if !uriByte(clientID[i]) {
			return bad("it contains the character %q, which a URL may not contain unencoded", rune(clientID[i]))
		}
	}
	if strings.Contains(clientID, "#") {
		return bad("it must not contain a fragment (#)")
	}
	if strings.Contains(clientID, "?") {
		return bad("it must not contain a query (?)")
	}
	rest := clientID[len("https://"):]
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		return bad("it needs a path, such as https://example.com/client.json")
	}
	authority, path := rest[:slash], rest[slash:]
	if strings.Contains(authority, "@") {
		return bad("it must not contain a user name or password")
	}
	if strings.Contains(authority, "%") {
		return bad("its host must not be percent-encoded")
	}
	if path == "/" {
		return bad("its path must not be just /")
	}
	// A server that decodes before splitting would see "/a%2f.." as a dot
	// segment; no document URL needs an encoded slash or backslash.
	if lp := strings.ToLower(path); strings.Contains(lp, "%2f") || strings.Contains(lp, "%5c") {
		return bad("its path must not contain an encoded slash or backslash (%%2F, %%5C)")
	}
	for seg := range strings.SplitSeq(path, "/") {
		if s := strings.ReplaceAll(strings.ToLower(seg), "%2e", "."); s == "." || s == ".." {
			return bad("its path must not contain . or .. segments")
		}
	}
	u, err := url.Parse(clientID)
	if err != nil {
		return bad("it does not parse: %s", strings.TrimPrefix(err.Error(), "parse "+strconv.Quote(clientID)+": "))
	}
	if u.Scheme != "https" || u.Opaque != "" || u.User != nil {
		return bad("it must be an https URL with a host and a path")
	}
	if strings.HasSuffix(authority, ":") {
		return bad("its port is empty")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("its port %s is not between 1 and 65535", p)
		}
	}
	if reason := checkHost(u.Hostname(), strings.HasPrefix(authority, "[")); reason != "" {
		return bad("%s", reason)
	}
	return u, nil
}

// invalidURL builds the KindInvalidURL error.
func invalidURL(clientID, reason string, args ...any) error {
	return newError(KindInvalidURL, clientID, nil,
		"client_id %q is not a valid client metadata document URL: "+reason, append([]any{clientID}, args...)...)
}

// checkHost returns why host cannot be a document host, or "".
func checkHost(host string, bracketed bool) string {
	if host == "" {
		return "it needs a host"
	}
	if bracketed {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "its host is not a valid IPv6 address"
		}
		return ""
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !ip.Is4() {
			return "an IPv6 host must be in brackets"
		}
		return ""
	}
	if len(host) > 253 {
		return "its host name is longer than 253 characters"
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l == "" {
			return "its host name has an empty label (check for .. or a trailing dot)"
		}
		if len(l) > 63 {
			return "its host name has a label longer than 63 characters"
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "its host name may contain only letters, digits, - and _ (use punycode for other names)"
			}
		}
	}
	// Resolvers read "2130706433", "0x7f.1" or "127.1" as IPv4 addresses;
	// a host whose last label is numeric is such a form, never a DNS name
	// (the WHATWG URL "ends in a number" rule).
	if last := strings.ToLower(labels[len(labels)-1]); numericLabel(last) {
		return "its host looks like an IPv4 address in a non-standard form; write it as four decimal numbers"
	}
	return ""
}

// numericLabel reports whether l is all decimal digits or a 0x hex number.
func numericLabel(l string) bool {
	if h, ok := strings.CutPrefix(l, "0x"); ok {
		l = h
		if l == "" {
			return true
		}
		return strings.Trim(l, "0123456789abcdef") == ""
	}
	return strings.Trim(l, "0123456789") == ""
}

// uriByte reports whether c may appear unencoded in an RFC 3986 URI
// (unreserved, reserved or '%').
func uriByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0
}

// hostPort returns the lower-cased "host:port" the HTTP transport dials for
// u, with port 443 when u has none. AllowHosts entries are compared to it.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}
