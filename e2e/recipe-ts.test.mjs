// The TypeScript SDK recipe (recipe-ts-server.mjs: requireBearerAuth with a
// jose JWKS verifier), run by the TypeScript SDK client with both signing
// algorithms.

import { test } from 'node:test';

import { runRecipe } from './recipe-scenario.mjs';
import { startTSRecipe } from './recipe-ts-server.mjs';

for (const alg of ['ES256', 'RS256']) {
  test(`TypeScript SDK recipe (bearer middleware + jose), ${alg}`, { timeout: 120_000 }, (t) =>
    runRecipe(t, {
      name: `recipe-ts-${alg}`,
      alg,
      resourceName: 'Notes (TypeScript)',
      start: async ({ issuer, port, scope }) => {
        // A short JWKS cooldown so that the rotation step does not wait 30 s.
        const s = await startTSRecipe({ issuer, port, scope, cooldownDuration: 1_000 });
        return { mcpURL: s.mcpURL, stop: s.close };
      },
    }),
  );
}
