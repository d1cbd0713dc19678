// The FastMCP recipe (recipe_fastmcp.py: JWTVerifier + RemoteAuthProvider),
// in a Python venv made from requirements.txt (fastmcp-venv.mjs), run by the
// TypeScript SDK client with both signing algorithms. JWTVerifier takes one
// algorithm, so it is told the one tenantless signs with.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { fastmcpPython } from './fastmcp-venv.mjs';
import { startProcess } from './harness.mjs';
import { runRecipe } from './recipe-scenario.mjs';

const here = dirname(fileURLToPath(import.meta.url));

for (const alg of ['RS256', 'ES256']) {
  test(`FastMCP recipe (JWTVerifier + RemoteAuthProvider), ${alg}`, { timeout: 300_000 }, (t) =>
    runRecipe(t, {
      name: `recipe-fastmcp-${alg}`,
      alg,
      resourceName: 'Notes (FastMCP)',
      start: async ({ issuer, port, scope }) => {
        const python = fastmcpPython();
        const proc = await startProcess({
          name: 'fastmcp',
          command: python,
          args: [join(here, 'recipe_fastmcp.py')],
          env: {
            ...process.env,
            TENANTLESS_ISSUER: issuer,
            PORT: String(port),
            SCOPE: scope,
            SIGNING_ALG: alg,
            // A short JWKS refresh interval so that the rotation step does not wait 30 s.
            JWKS_REFRESH_INTERVAL: '1',
            FASTMCP_SHOW_CLI_BANNER: 'false',
          },
          dir: mkdtempSync(join(tmpdir(), 'tenantless-fastmcp-')),
          readyURL: `http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`,
          timeout: 60_000,
          interval: 200,
        });
        return { mcpURL: `http://127.0.0.1:${port}/mcp`, stop: proc.stop, output: () => proc.output.text(40) };
      },
    }),
  );
}
