// Package authz is the OAuth 2.1 authorization server of tenantless, built
// on fosite: authorization code with PKCE (S256 only), refresh token
// rotation with reuse detection (RFC 9700 §4.14.2) and a reuse grace
// period for concurrent refreshes, RFC 7009 revocation, RFC 7662
// introspection, RFC 9068 JWT access tokens signed with a persisted ES256
// or RS256 key, RFC 8707 resource indicators, RFC 9207 iss, RFC 8414
// metadata, and the sign-in and consent flow.
//
// Tokens are issued for registered resources (resources.go): the built-in
// one of Config (the MCP server tenantless serves, or the gateway's
// upstream) and every one added with AddResource, each with scopes of its
// own. A token has one resource, its "aud", and only that resource's
// scopes. MintAccessToken issues a token outside the OAuth flow for the
// CLI.
//
// It owns the adapter between fosite and storage (fositestore.go). It
// imports storage, web and authz/trace (the live auth trace, which its
// handlers tell what they decided), never resource or cmd.
//
// Routes (Server.Mount):
//
//	GET  /authorize                               validate; sign-in page, consent page, or redirect with a code
//	POST /authorize                               consent decision (decision=allow|deny, csrf_token, original parameters)
//	POST /login                                   username, password, csrf_token, next → session cookie, 303 to next
//	POST /logout                                  csrf_token → ends the session
//	POST /token                                   authorization_code (+code_verifier) and refresh_token grants
//	POST /revoke                                  RFC 7009; revokes the whole grant
//	POST /introspect                              RFC 7662; confidential clients with HTTP Basic only
//	GET  /jwks.json                               public signing keys
//	GET  /.well-known/oauth-authorization-server  RFC 8414 metadata
//	GET  /.well-known/openid-configuration        the same document
//	POST /register                                RFC 7591 dynamic client registration (open, token or off)
//	GET, PUT, DELETE /register/{client_id}        RFC 7592 management with the registration access token
//	OPTIONS on every API route                    CORS preflight (the APIs take no cookies)
//	GET  /static/                                 stylesheet and script of the pages
//
// With Config.Trace set (tracepage.go), for admin users:
//
//	GET  /trace                                   the live auth trace: attempts and their timelines
//	GET  /trace/events                            server-sent events: each new trace event as JSON
//	POST /trace/fault                             inject a fault (kind, client_id, tool, scope, delay, csrf_token)
package authz
