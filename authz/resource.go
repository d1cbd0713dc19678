package authz

import (
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"
)

// errInvalidTarget is the RFC 8707 §2 error for a resource this server
// does not issue tokens for.
func errInvalidTarget(resource string) *fosite.RFC6749Error {
	return &fosite.RFC6749Error{
		ErrorField:       "invalid_target",
		DescriptionField: "The requested resource is invalid, unknown, or not served by this authorization server.",
		HintField:        "Unknown resource " + quoteShort(resource) + ".",
		CodeField:        400,
	}
}

// canonicalResource checks an RFC 8707 resource indicator (an absolute URI
// without a fragment) and returns it with the scheme and host lower-cased,
// which is how resources are compared.
func canonicalResource(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "", errors.New("must be an absolute URI")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "", errors.New("must not contain a fragment")
	}
	if u.User != nil {
		return "", errors.New("must not contain user information")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	return u.String(), nil
}

// resolveResources validates the requested resources against the served
// ones and returns their canonical forms, defaulting to the first served
// resource when none was requested. On failure it returns the offending
// value.
func (s *Server) resolveResources(requested []string) ([]string, string, bool) {
	if len(requested) == 0 {
		return []string{s.resources[0]}, "", true
	}
	out := make([]string, 0, len(requested))
	for _, r := range requested {
		canon, err := canonicalResource(r)
		if err != nil || !slices.Contains(s.resources, canon) {
			return nil, r, false
		}
		if !slices.Contains(out, canon) {
			out = append(out, canon)
		}
	}
	return out, "", true
}

// quoteShort quotes s for an error message, cut to a sane length.
func quoteShort(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return "\"" + strings.ToValidUTF8(s, "?") + "\""
}
