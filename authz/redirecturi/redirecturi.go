// Package redirecturi holds the redirect URI rules every registration
// path shares (pre-registered, RFC 7591 dynamic registration, client ID
// metadata documents) and the RFC 8252 loopback matching used at the
// authorization endpoint. It imports only the standard library.
package redirecturi

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Validate checks a redirect URI a client wants to register: absolute, no
// fragment, no user information; https anywhere, http only on a loopback
// host (RFC 8252 §7.3); a private-use scheme containing a dot for native
// apps (RFC 8252 §7.1); never javascript:, data:, file: and the like.
func Validate(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a valid URI")
	}
	if !u.IsAbs() {
		return errors.New("must be an absolute URI")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("must not contain a fragment")
	}
	if u.User != nil {
		return errors.New("must not contain user information")
	}
	switch scheme := strings.ToLower(u.Scheme); scheme {
	case "https":
		if u.Host == "" {
			return errors.New("an https redirect URI needs a host")
		}
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return errors.New("http is allowed only for loopback hosts (localhost, 127.0.0.1, [::1]); use https")
		}
	case "javascript", "data", "file", "vbscript", "about", "blob", "filesystem", "ftp", "ws", "wss":
		return fmt.Errorf("scheme %q is not allowed", scheme)
	default:
		if !strings.Contains(scheme, ".") {
			return fmt.Errorf("scheme %q is not allowed: use https, http on loopback, or a reverse-domain private-use scheme", scheme)
		}
	}
	return nil
}

// IsLoopbackHost reports whether host (without brackets or port) names
// this machine's loopback interface.
func IsLoopbackHost(host string) bool {
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// LoopbackMatch reports whether requested equals registered except for
// the port, as RFC 8252 §7.3 allows for http loopback redirect URIs
// (localhost included: Claude Code registers http://localhost/callback and
// comes back on a random port). Scheme, host, path and query must match.
func LoopbackMatch(registered, requested string) bool {
	ru, err := url.Parse(registered)
	if err != nil {
		return false
	}
	qu, err := url.Parse(requested)
	if err != nil {
		return false
	}
	return ru.Scheme == "http" && qu.Scheme == "http" &&
		IsLoopbackHost(ru.Hostname()) && ru.Hostname() == qu.Hostname() &&
		ru.User == nil && qu.User == nil &&
		ru.EscapedPath() == qu.EscapedPath() && ru.RawQuery == qu.RawQuery &&
		qu.Fragment == "" && !strings.Contains(requested, "#")
}
