// Scenario 1: the MCP TypeScript SDK (v1) as a client that registers itself
// with Dynamic Client Registration, signs a person in through the real pages
// in headless Chromium, calls a tool, and refreshes its token silently when
// the access token expires. On the way it photographs the consent page and
// the account page (test-results/consent-page.png, account-page.png).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import {
  Scenario,
  jwtClaims,
  launchChromium,
  recordBrowserTraffic,
  recordingFetch,
  saveScreenshot,
  startServer,
  waitFor,
} from './harness.mjs';
import { ChromiumProvider, newSDKClient, startCallbackServer } from './sdk-client.mjs';

test('TypeScript SDK: DCR, sign-in and consent in Chromium, tools, silent refresh', { timeout: 180_000 }, async (t) => {
  const sc = new Scenario('sdk-dcr');
  let callback;
  t.after(async () => {
    await sc.cleanup();
    await callback?.close();
  });

  sc.server = await sc.step('start tenantless (access tokens live 5 s)', () =>
    startServer({ args: ['--access-token-ttl', '5s'] }),
  );
  const { issuer, mcpURL } = sc.server;
  sc.browser = await sc.step('launch headless Chromium', () => launchChromium());
  recordBrowserTraffic(sc.browser, issuer, sc.http);
  callback = await sc.step('start the client callback listener on 127.0.0.1', () => startCallbackServer());

  let consentScreenshot;
  const provider = new ChromiumProvider({
    browser: sc.browser,
    callback,
    // The consent page, photographed before "Allow" (for the README).
    beforeAllow: async (page) => {
      consentScreenshot = await saveScreenshot(page, 'consent-page.png');
    },
  });
  const fetchFn = recordingFetch(sc.http);
  const newClient = () => newSDKClient(mcpURL, provider, fetchFn);

  let first = newClient();
  await sc.step('connect without a token: 401, discovery, DCR, sign-in and consent in Chromium', async () => {
    await assert.rejects(first.client.connect(first.transport), UnauthorizedError);

    const challenge = sc.http.find((e) => e.method === 'POST' && e.url === mcpURL);
    assert.equal(challenge?.status, 401, 'first POST /mcp status');
    assert.match(
      challenge.www_authenticate ?? '',
      new RegExp(`resource_metadata="${issuer}/\\.well-known/oauth-protected-resource/mcp"`),
    );
    assert.match(challenge.www_authenticate, /scope="weather:read"/);
    const prm = sc.http.find((e) => e.url === `${issuer}/.well-known/oauth-protected-resource/mcp`);
    assert.equal(prm?.status, 200, 'protected resource metadata status');
    const asm = sc.http.find((e) => e.url.startsWith(`${issuer}/.well-known/oauth-authorization-server`));
    assert.equal(asm?.status, 200, 'authorization server metadata status');
    const reg = sc.http.find((e) => e.method === 'POST' && e.url === `${issuer}/register`);
    assert.equal(reg?.status, 201, 'registration status');
    assert.ok(provider.savedClient?.client_id, 'registered client_id');
    assert.equal(provider.savedClient.client_secret, undefined, 'a public client gets no secret');

    assert.equal(provider.authorizationURLs.length, 1, 'authorization requests');
    const q = provider.authorizationURLs[0].searchParams;
    assert.equal(provider.authorizationURLs[0].origin + provider.authorizationURLs[0].pathname, `${issuer}/authorize`);
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('client_id'), provider.savedClient.client_id);
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.equal(q.get('redirect_uri'), callback.url);
    assert.equal(q.get('resource'), mcpURL);
    assert.equal(q.get('scope'), 'weather:read');

    const cb = provider.callbackQuery;
    assert.ok(cb?.get('code'), 'callback carries a code');
    assert.equal(cb.get('state'), provider.lastState, 'callback state');
    assert.equal(cb.get('iss'), issuer, 'callback iss (RFC 9207)');
  });

  await sc.step('finishAuth: exchange the code at /token', async () => {
    await first.transport.finishAuth(provider.callbackQuery.get('code'));
    const tok = provider.tokens();
    assert.ok(tok?.access_token, 'access token');
    assert.ok(tok.refresh_token, 'refresh token');
    assert.equal(tok.token_type.toLowerCase(), 'bearer');
    const claims = jwtClaims(tok.access_token);
    assert.equal(claims.iss, issuer, 'access token iss');
    assert.deepEqual([claims.aud].flat(), [mcpURL], 'access token aud');
    assert.ok(tok.expires_in > 0 && tok.expires_in <= 5, `expires_in ${tok.expires_in}, want 1..5 (--access-token-ttl 5s)`);
    const exchange = sc.http.findLast((e) => e.grant_type === 'authorization_code');
    assert.equal(exchange?.status, 200, 'authorization_code grant status');
  });

  await sc.step(`the account page ${issuer}/account lists the application`, async () => {
    assert.ok(consentScreenshot, 'the consent page was shown');
    sc.print(`[sdk-dcr] screenshot: ${consentScreenshot}`);
    // The browser is still signed in from the authorization.
    const page = await sc.browser.newPage();
    await page.goto(`${issuer}/account`);
    const app = page.locator('li.app');
    await app.first().waitFor();
    assert.equal(await app.count(), 1, 'applications listed');
    assert.equal((await app.locator('h2').innerText()).trim(), 'tenantless e2e (TypeScript SDK)');
    assert.equal((await app.locator('code.id').innerText()).trim(), provider.savedClient.client_id);
    assert.match(await app.innerText(), /weather:read/);
    // One access token and one refresh token.
    assert.match(await app.innerText(), /Live tokens\s+2/);
    sc.print(`[sdk-dcr] screenshot: ${await saveScreenshot(page, 'account-page.png')}`);
    await page.close();
  });

  let session = newClient();
  await sc.step('reconnect with the token and list tools', async () => {
    await session.client.connect(session.transport);
    const { tools } = await session.client.listTools();
    const names = tools.map((x) => x.name).sort();
    assert.deepEqual(names, ['get_alerts', 'get_forecast']);
  });

  const callForecast = async () => {
    const res = await session.client.callTool({
      name: 'get_forecast',
      arguments: { latitude: 47.6062, longitude: -122.3321 },
    });
    assert.notEqual(res.isError, true, `tool error: ${JSON.stringify(res.content)}`);
    const text = res.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');
    assert.ok(text.length > 0, 'get_forecast returned text');
    assert.match(text, /offline/, 'the offline sample says so');
    return text;
  };

  await sc.step('call get_forecast', callForecast);

  const before = provider.tokens();
  // Counted here, not in the last step: should the SDK reopen its GET stream
  // while the test waits, the refresh may come from there, and still only once.
  const refreshesBefore = sc.http.filter((e) => e.grant_type === 'refresh_token').length;
  await sc.step('wait until the server rejects the old access token (5 s TTL)', async () => {
    const { exp } = jwtClaims(before.access_token);
    // Poll the server itself: the token is expired when /mcp answers 401.
    const res = await waitFor(
      'POST /mcp with the old access token to answer 401',
      async () => {
        const r = await fetch(mcpURL, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${before.access_token}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
          },
          body: JSON.stringify({ jsonrpc: '2.0', id: 'probe', method: 'ping' }),
        });
        await r.body?.cancel();
        return r.status === 401 ? r : null;
      },
      { timeout: Math.max(0, exp * 1000 - Date.now()) + 15_000, interval: 250 },
    );
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  await sc.step('call get_forecast again: the SDK refreshes the token silently', async () => {
    await callForecast();
    const after = provider.tokens();
    assert.notEqual(after.access_token, before.access_token, 'access token changed');
    assert.notEqual(after.refresh_token, before.refresh_token, 'refresh token rotated');
    const refreshes = sc.http.filter((e) => e.grant_type === 'refresh_token');
    assert.equal(refreshes.length, refreshesBefore + 1, 'one refresh_token grant since the old token expired');
    assert.equal(refreshes.at(-1).status, 200, 'refresh_token grant status');
    assert.equal(provider.authorizationURLs.length, 1, 'no second trip through the browser');
  });

  await sc.step('close the session', async () => {
    await session.client.close();
  });
});
