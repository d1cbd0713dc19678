// Package resource is the protected MCP weather server: Streamable HTTP
// (go-sdk) with the tools get_forecast and get_alerts, bearer-token checks
// that answer with RFC 6750 challenges, and RFC 9728 protected resource
// metadata.
//
// Guard is the bearer-token middleware, kept independent of the weather
// tools so a gateway can put it in front of another MCP server: every
// request whose credentials cannot be used gets 401 with a challenge.
//
// It imports nothing of tenantless's own but resource/weather: the
// authorization server is known only through the Verifier that cmd
// injects, so this package could guard tokens from any issuer. What it
// decides about each request goes to an optional Observe func, and armed
// faults come in through an optional Intercept func (observe.go); cmd
// connects both to the auth trace.
//
// Routes (Server.Mount):
//
//	/mcp, /mcp/stream                                   MCP Streamable HTTP (POST, GET, DELETE), bearer token required
//	GET /.well-known/oauth-protected-resource/mcp        RFC 9728 metadata for /mcp
//	GET /.well-known/oauth-protected-resource/mcp/stream RFC 9728 metadata for /mcp/stream
//	GET /.well-known/oauth-protected-resource            the same document as for /mcp
package resource
