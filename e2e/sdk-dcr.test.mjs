// Scenario 1: the MCP TypeScript SDK (v1) as a client that registers itself
// with Dynamic Client Registration, signs a person in through the real pages
// in headless Chromium, calls a tool, and refreshes its token silently when
// the access token expires.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { test } from 'node:test';

import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import {
  Scenario,
  freePort,
  jwtClaims,
  launchChromium,
  recordBrowserTraffic,
  recordingFetch,
  signInAndAllow,
  startServer,
  waitFor,
} from './harness.mjs';

/**
 * The client's loopback redirect target (RFC 8252 §7.3): it answers the
 * browser with a small page and hands the query parameters to the test.
 */
async function startCallbackServer() {
  const port = await freePort();
  const waiters = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, `http://127.0.0.1:${port}`);
    if (url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>Signed in</title><p id="done">You can close this window.</p>');
    waiters.shift()?.(url.searchParams);
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${port}/callback`,
    /** Resolves with the query of the next request to /callback. */
    next: () => new Promise((ok) => waiters.push(ok)),
    close: () => new Promise((ok) => server.close(ok)),
  };
}

/**
 * An OAuthClientProvider that keeps everything in memory and plays the
 * user's part in Chromium: redirectToAuthorization opens the authorization
 * URL, signs in, allows, and waits for the redirect to the callback server.
 */
class ChromiumProvider {
  constructor({ browser, callback }) {
    this.browser = browser;
    this.callback = callback;
    this.savedClient = undefined;
    this.savedTokens = undefined;
    this.verifier = undefined;
    this.lastState = undefined;
    /** Every authorization URL the SDK sent the user to. */
    this.authorizationURLs = [];
    /** The query of the last redirect to the callback. */
    this.callbackQuery = undefined;
    /** Every token set saved, in order. */
    this.tokenHistory = [];
  }

  get redirectUrl() {
    return this.callback.url;
  }

  get clientMetadata() {
    return {
      client_name: 'tenantless e2e (TypeScript SDK)',
      redirect_uris: [this.callback.url],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state() {
    this.lastState = randomBytes(32).toString('hex');
    return this.lastState;
  }

  clientInformation() {
    return this.savedClient;
  }

  saveClientInformation(info) {
    this.savedClient = info;
  }

  tokens() {
    return this.savedTokens;
  }

  saveTokens(tokens) {
    this.savedTokens = tokens;
    this.tokenHistory.push(tokens);
  }

  saveCodeVerifier(v) {
    this.verifier = v;
  }

  codeVerifier() {
    return this.verifier;
  }

  async redirectToAuthorization(url) {
    this.authorizationURLs.push(new URL(url));
    const redirected = this.callback.next();
    const page = await this.browser.newPage();
    await page.goto(url.toString());
    await signInAndAllow(page);
    this.callbackQuery = await redirected;
    await page.locator('#done').waitFor();
    await page.close();
  }
}

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

  const provider = new ChromiumProvider({ browser: sc.browser, callback });
  const fetchFn = recordingFetch(sc.http);
  const newClient = () => ({
    client: new Client({ name: 'tenantless-e2e', version: '1.0.0' }),
    transport: new StreamableHTTPClientTransport(new URL(mcpURL), { authProvider: provider, fetch: fetchFn }),
  });

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
