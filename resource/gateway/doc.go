// Package gateway puts the MCP authorization flow in front of an MCP
// server that has none: an unchanged, unauthenticated server speaking
// Streamable HTTP at a URL (Proxy) or stdio (a command run once per MCP
// session), the way Azure App Service's Easy Auth fronts an app.
//
// Every request is checked by a resource.Guard exactly as the built-in
// weather server's are (401 challenges, RFC 9728 metadata per Host, 403
// insufficient_scope step-up for tools matched by Config.ToolScopes).
// Sessions are bound to the user who created them. The client's
// Authorization header and cookies never reach the upstream; instead it
// receives the user's identity as App Service does (X-MS-CLIENT-PRINCIPAL*
// headers) and as a short-lived signed JWT (X-Tenantless-Identity), or, for
// a stdio upstream, in the process environment (TENANTLESS_USER, ...).
// Headers of those names sent by the client are always removed.
//
// It imports nothing of authz or storage: cmd injects the token verifier,
// the JWT signer, the user-name lookup and the tool-call observer.
//
// Routes (Mount):
//
//	/mcp, /mcp/stream                                 the protected MCP endpoint (GET, POST, DELETE)
//	/.well-known/oauth-protected-resource[/mcp...]    RFC 9728 metadata
package gateway
