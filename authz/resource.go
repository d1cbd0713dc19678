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

// resolveResource validates the requested resources (RFC 8707 §2): at
// most one (one token has one audience), registered with this server. It
// returns the canonical URL, which becomes the token's audience, and the
// resource it names; with none requested, the built-in resource.
func (s *Server) resolveResource(requested []string) (string, *servedResource, *fosite.RFC6749Error) {
	if len(requested) == 0 {
		b := s.registry.builtin
		return b.rec.URL, b, nil
	}
	var canon string
	for _, r := range requested {
		c, err := canonicalResource(r)
		if err != nil {
			return "", nil, errInvalidTarget(r)
		}
		if canon != "" && c != canon {
			rfc := errInvalidTarget(r)
			rfc.HintField = "Send one resource parameter: a token is issued for one resource (its audience)."
			return "", nil, rfc
		}
		canon = c
	}
	res, ok := s.registry.lookup(canon)
	if !ok {
		return "", nil, errInvalidTarget(requested[0])
	}
	return canon, res, nil
}

// checkScopes refuses requested scopes that are not res's (RFC 6749
// §4.1.2.1 invalid_scope), naming the resource a scope belongs to.
func (s *Server) checkScopes(requested []string, res *servedResource) error {
	for _, sc := range requested {
		if slices.Contains(res.rec.Scopes, sc) {
			continue
		}
		if owner, ok := s.registry.owner(sc); ok {
			return fosite.ErrInvalidScope.WithHintf("The scope %s belongs to the resource %s, not to %s; ask for it with resource=%s.",
				quoteShort(sc), owner.rec.URL, res.rec.URL, owner.rec.URL)
		}
		return fosite.ErrInvalidScope.WithHintf("The scope %s is not a scope of %s.", quoteShort(sc), res.rec.URL)
	}
	return nil
}

// quoteShort quotes s for an error message, cut to a sane length.
func quoteShort(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return "\"" + strings.ToValidUTF8(s, "?") + "\""
}
