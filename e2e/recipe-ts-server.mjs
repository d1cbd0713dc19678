// The README recipe "TypeScript SDK": an MCP server written with the MCP
// TypeScript SDK (v1) that checks tenantless's access tokens itself, with
// the SDK's bearer middleware and a `jose` JWKS verifier. Every line that
// matters for a reader of the README is here; the test only starts it.
//
// What the SDK and jose assume, and what this sets:
// - requireBearerAuth answers 500 unless the verifier throws the SDK's
//   InvalidTokenError, so every jose failure is turned into one (401 with
//   a WWW-Authenticate challenge that points at the metadata).
// - jwtVerify is told the algorithms (ES256 and RS256, whichever tenantless
//   signs with), the issuer, the audience (this server's own URL) and the
//   JWT type (at+jwt, RFC 9068).
// - createRemoteJWKSet fetches the JWKS again when a token names an unknown
//   kid (a rotated key), at most once per cooldownDuration (30 s by default).

import express from 'express';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { getOAuthProtectedResourceMetadataUrl, mcpAuthMetadataRouter } from '@modelcontextprotocol/sdk/server/auth/router.js';

/**
 * Starts the recipe server on 127.0.0.1:port for the tenantless at issuer,
 * needing scope; resolves with its MCP URL and a close function.
 */
export async function startTSRecipe({ issuer, port, scope, cooldownDuration = 30_000 }) {
  const mcpURL = new URL(`http://127.0.0.1:${port}/mcp`);
  const oauthMetadata = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json();
  const jwks = createRemoteJWKSet(new URL(oauthMetadata.jwks_uri), { cooldownDuration });

  const verifier = {
    async verifyAccessToken(token) {
      try {
        const { payload } = await jwtVerify(token, jwks, {
          issuer,
          audience: mcpURL.href,
          algorithms: ['ES256', 'RS256'],
          typ: 'at+jwt',
        });
        return {
          token,
          clientId: payload.client_id,
          scopes: String(payload.scope ?? '').split(' ').filter(Boolean),
          expiresAt: payload.exp,
          resource: mcpURL,
          extra: { sub: payload.sub, username: payload.preferred_username },
        };
      } catch (err) {
        throw new InvalidTokenError(`invalid access token: ${err.code ?? err.message}`);
      }
    },
  };

  const app = express();
  app.use(express.json());
  app.use(mcpAuthMetadataRouter({ oauthMetadata, resourceServerUrl: mcpURL, scopesSupported: [scope], resourceName: 'TS recipe' }));
  const auth = requireBearerAuth({
    verifier,
    requiredScopes: [scope],
    resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(mcpURL),
    expectedResource: mcpURL,
  });
  // Stateless: a new server and transport per request.
  app.post('/mcp', auth, async (req, res) => {
    const server = new McpServer({ name: 'ts-recipe', version: '1.0.0' });
    server.registerTool('whoami', { description: 'Who the access token is for' }, async (extra) => ({
      content: [{ type: 'text', text: `user=${extra.authInfo.extra.username} scope=${extra.authInfo.scopes.join(' ')}` }],
    }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  // No server-to-client stream in stateless mode.
  app.all('/mcp', (req, res) => res.set('Allow', 'POST').status(405).json({ error: 'method_not_allowed' }));
  const listener = await new Promise((ok) => {
    const l = app.listen(port, '127.0.0.1', () => ok(l));
  });
  return { mcpURL: mcpURL.href, close: () => new Promise((ok) => listener.close(ok)) };
}
