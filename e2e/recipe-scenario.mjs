// The scenario every "your own MCP server" recipe runs (README: "Use
// tenantless as the authorization server of your own MCP server"): the
// TypeScript SDK client starts from the recipe server's URL alone,
// discovers tenantless from its 401 and protected resource metadata,
// registers, signs in and consents in Chromium (the consent page names the
// resource), and calls a tool; the recipe server refuses a token for
// another resource and a forged one, accepts a "tenantless token", and
// accepts a token of a rotated key without a restart.

import assert from 'node:assert/strict';

import { Scenario, freePort, jwtClaims, launchChromium, recordBrowserTraffic, recordingFetch, startServer, waitFor } from './harness.mjs';
import { ChromiumProvider, newSDKClient, startCallbackServer } from './sdk-client.mjs';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const scope = 'notes:read';

/** POSTs an MCP initialize with token to url and returns the response status. */
async function initializeStatus(url, token) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({
      jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'probe', version: '0' } },
    }),
  });
  await res.body?.cancel();
  return res.status;
}

/**
 * Runs the scenario. start({ issuer, port, scope }) starts the recipe server
 * and resolves with { mcpURL, stop, output? } (output(): its log tail).
 */
export async function runRecipe(t, { name, alg, resourceName, start }) {
  const sc = new Scenario(name);
  let callback;
  let recipe;
  t.after(async () => {
    await recipe?.stop();
    await sc.cleanup();
    await callback?.close();
  });

  sc.server = await sc.step(`start tenantless --signing-alg ${alg}`, () => startServer({ args: ['--signing-alg', alg] }));
  const { issuer } = sc.server;
  const port = await freePort();
  recipe = await sc.step(`start the ${resourceName} recipe server on 127.0.0.1:${port}`, () => start({ issuer, port, scope }));
  if (recipe.output) sc.attach(`${resourceName} recipe server`, recipe.output);
  const mcpURL = recipe.mcpURL;

  await sc.step(`tenantless resource add ${mcpURL} --scopes ${scope}`, async () => {
    sc.server.cli('resource', 'add', mcpURL, '--scopes', scope, '--name', resourceName);
    // The running server reads the new resource within 2 s.
    await waitFor('scopes_supported to list the new scope', async () => {
      const md = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json();
      return md.scopes_supported.includes(scope);
    });
  });

  sc.browser = await sc.step('launch headless Chromium', () => launchChromium());
  recordBrowserTraffic(sc.browser, issuer, sc.http);
  callback = await sc.step('start the client callback listener on 127.0.0.1', () => startCallbackServer());
  let consentText = '';
  const provider = new ChromiumProvider({
    browser: sc.browser,
    callback,
    clientName: `${resourceName} recipe client`,
    beforeAllow: async (page) => {
      consentText = await page.locator('main').innerText();
    },
  });
  const fetchFn = recordingFetch(sc.http);

  await sc.step(`connect to ${mcpURL} without a token: 401, discovery, DCR, sign-in and consent`, async () => {
    const first = newSDKClient(mcpURL, provider, fetchFn);
    await assert.rejects(first.client.connect(first.transport), UnauthorizedError);
    const challenge = sc.http.find((e) => e.method === 'POST' && e.url === mcpURL);
    assert.equal(challenge?.status, 401, 'first POST status');
    assert.match(challenge.www_authenticate ?? '', /resource_metadata="/, 'challenge names the metadata');
    const reg = sc.http.find((e) => e.method === 'POST' && e.url === `${issuer}/register`);
    assert.equal(reg?.status, 201, 'registration at tenantless');
    const q = provider.authorizationURLs[0].searchParams;
    assert.equal(provider.authorizationURLs[0].origin, issuer, 'authorization at tenantless');
    assert.equal(q.get('resource'), mcpURL, 'resource parameter');
    assert.equal(q.get('scope'), scope, 'scope parameter');
    assert.ok(consentText.includes(`${resourceName} ${mcpURL}`), 'the consent page names the resource, with its URL');
    await first.transport.finishAuth(provider.callbackQuery.get('code'));
    const tok = provider.tokens();
    const claims = jwtClaims(tok.access_token);
    assert.deepEqual([claims.aud].flat(), [mcpURL], 'aud');
    assert.equal(claims.scope, scope, 'scope claim');
    assert.equal(claims.preferred_username, 'admin');
    const header = JSON.parse(Buffer.from(tok.access_token.split('.')[0], 'base64url').toString());
    assert.equal(header.alg, alg, 'JWS alg');
    assert.equal(header.typ, 'at+jwt', 'JWT typ');
  });

  await sc.step('reconnect with the token, list tools and call whoami', async () => {
    const s = newSDKClient(mcpURL, provider, fetchFn);
    await s.client.connect(s.transport);
    const { tools } = await s.client.listTools();
    assert.deepEqual(tools.map((x) => x.name), ['whoami']);
    const res = await s.client.callTool({ name: 'whoami', arguments: {} });
    assert.notEqual(res.isError, true, `tool error: ${JSON.stringify(res.content)}`);
    assert.match(res.content[0].text, new RegExp(`user=admin scope=${scope}`));
    await s.client.close();
  });

  await sc.step('refused: a token for the built-in resource, and a forged token (401, never 500)', async () => {
    const other = sc.server.cli('token', '--user', 'admin', '--resource', `${issuer}/mcp`).trim();
    assert.equal(await initializeStatus(mcpURL, other), 401, 'token for another resource');
    const own = provider.tokens().access_token;
    const [h, p] = own.split('.');
    assert.equal(await initializeStatus(mcpURL, `${h}.${p}.AAAA`), 401, 'forged signature');
    assert.equal(await initializeStatus(`${issuer}/mcp`, own), 401, 'the built-in server refuses the recipe token');
  });

  await sc.step('accepted: tenantless token --resource', async () => {
    const minted = sc.server.cli('token', '--user', 'admin', '--resource', mcpURL, '--scope', scope).trim();
    assert.equal(await initializeStatus(mcpURL, minted), 200);
  });

  await sc.step('tenantless keys rotate: a token of the new key is accepted without restarting the recipe server', async () => {
    const before = JSON.parse(Buffer.from(provider.tokens().access_token.split('.')[0], 'base64url').toString()).kid;
    const kid = JSON.parse(sc.server.cli('keys', 'rotate', '--json')).kid;
    assert.notEqual(kid, before);
    // tenantless publishes the new key within 2 s (and signs with it).
    await waitFor('the JWKS to publish the new key', async () => {
      const set = await (await fetch(`${issuer}/jwks.json`)).json();
      return set.keys.some((k) => k.kid === kid && k.alg === alg && k.use === 'sig');
    });
    const minted = sc.server.cli('token', '--user', 'admin', '--resource', mcpURL).trim();
    const header = JSON.parse(Buffer.from(minted.split('.')[0], 'base64url').toString());
    assert.equal(header.kid, kid, 'minted with the new key');
    await waitFor('the recipe server to accept the new key', async () => (await initializeStatus(mcpURL, minted)) === 200, {
      timeout: 20_000, interval: 500,
    });
    assert.equal(await initializeStatus(mcpURL, provider.tokens().access_token), 200, 'a token of the retired key still works');
  });
}
