// Scenario 2: the MCP TypeScript SDK (v1) as a client identified by a Client
// ID Metadata Document instead of registering. The provider's
// clientMetadataUrl is an https URL on a local server with a certificate
// from a CA made in this test; tenantless is told to trust that CA
// (--cimd-ca) and to let exactly that host:port past its address guard
// (--cimd-allow-host). Nothing else is relaxed: the fetch is real TLS with
// certificate verification.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import {
  Scenario,
  freePort,
  jwtClaims,
  launchChromium,
  recordBrowserTraffic,
  recordingFetch,
  saveScreenshot,
  startServer,
} from './harness.mjs';
import { ChromiumProvider, newSDKClient, startCallbackServer } from './sdk-client.mjs';
import { newTestCA } from './test-ca.mjs';

const documentPath = '/tenantless-e2e/client-metadata.json';

/**
 * Serves the client metadata document over https on 127.0.0.1 with a
 * certificate issued by ca, and remembers every request.
 */
async function startDocumentServer({ ca, callbackURL }) {
  const port = await freePort();
  const url = `https://127.0.0.1:${port}${documentPath}`;
  const document = {
    client_id: url,
    client_name: 'tenantless e2e (TypeScript SDK, metadata document)',
    client_uri: `https://127.0.0.1:${port}/`,
    redirect_uris: [callbackURL],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  };
  const { certPEM, keyPEM } = ca.issue();
  const requests = [];
  const server = createServer({ cert: certPEM, key: keyPEM }, (req, res) => {
    requests.push({ method: req.method, path: req.url, userAgent: req.headers['user-agent'] });
    if (req.method === 'GET' && req.url === documentPath) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
      res.end(JSON.stringify(document));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return {
    url,
    hostPort: `127.0.0.1:${port}`,
    document,
    requests,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(ok);
      }),
  };
}

test('TypeScript SDK: Client ID Metadata Document over https, no DCR, sign-in and consent in Chromium, tools', { timeout: 180_000 }, async (t) => {
  const sc = new Scenario('sdk-cimd');
  const dir = mkdtempSync(join(tmpdir(), 'tenantless-e2e-cimd-'));
  let callback;
  let docs;
  t.after(async () => {
    await sc.cleanup();
    await callback?.close();
    await docs?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  callback = await sc.step('start the client callback listener on 127.0.0.1', () => startCallbackServer());
  const caFile = join(dir, 'ca.pem');
  docs = await sc.step('make a test CA and serve the metadata document over https on 127.0.0.1', async () => {
    const ca = newTestCA();
    writeFileSync(caFile, ca.certPEM);
    const d = await startDocumentServer({ ca, callbackURL: callback.url });
    // The document server is only trusted through this CA.
    const res = await fetch(d.url).catch((err) => err);
    assert.ok(res instanceof Error, 'the document server is not trusted by default');
    d.requests.length = 0;
    return d;
  });
  sc.attach('metadata document server requests', () => docs.requests.map((r) => `${r.method} ${r.path} (${r.userAgent})`).join('\n'));

  sc.server = await sc.step(`start tenantless with --cimd-ca and --cimd-allow-host ${docs.hostPort}`, () =>
    startServer({ args: ['--cimd-ca', caFile, '--cimd-allow-host', docs.hostPort, '--log-level', 'debug'] }),
  );
  const { issuer, mcpURL } = sc.server;
  sc.browser = await sc.step('launch headless Chromium', () => launchChromium());
  recordBrowserTraffic(sc.browser, issuer, sc.http);

  let consent;
  const provider = new ChromiumProvider({
    browser: sc.browser,
    callback,
    clientMetadataUrl: docs.url,
    beforeAllow: async (page) => {
      consent = {
        host: (await page.locator('.host').innerText()).trim(),
        clientID: (await page.locator('code.id').innerText()).trim(),
        title: await page.title(),
        screenshot: await saveScreenshot(page, 'consent-page-metadata-document.png'),
      };
    },
  });
  const fetchFn = recordingFetch(sc.http);

  const first = newSDKClient(mcpURL, provider, fetchFn);
  await sc.step('connect without a token: 401, discovery, no DCR, /authorize with the document URL as client_id', async () => {
    await assert.rejects(first.client.connect(first.transport), UnauthorizedError);

    const asm = sc.http.find((e) => e.url.startsWith(`${issuer}/.well-known/oauth-authorization-server`));
    assert.equal(asm?.status, 200, 'authorization server metadata status');
    const register = sc.http.filter((e) => new URL(e.url).pathname.startsWith('/register'));
    assert.deepEqual(register, [], 'the SDK sent no registration request');
    assert.equal(provider.savedClient?.client_id, docs.url, 'the SDK uses the document URL as client_id');

    assert.equal(provider.authorizationURLs.length, 1, 'authorization requests');
    const q = provider.authorizationURLs[0].searchParams;
    assert.equal(q.get('client_id'), docs.url, 'client_id in /authorize');
    assert.equal(q.get('redirect_uri'), callback.url);
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.equal(q.get('resource'), mcpURL);

    const fetches = docs.requests.filter((r) => r.method === 'GET' && r.path === documentPath);
    assert.ok(fetches.length >= 1, 'tenantless fetched the metadata document over https');
  });

  await sc.step(`the consent page said "Client ID document hosted at ${docs.hostPort}"`, async () => {
    assert.ok(consent, 'the consent page was shown');
    assert.equal(consent.host, `Client ID document hosted at ${docs.hostPort}`);
    assert.equal(consent.clientID, docs.url);
    assert.match(consent.title, /tenantless e2e \(TypeScript SDK, metadata document\)/);
    sc.print(`[sdk-cimd] screenshot: ${consent.screenshot}`);
  });

  await sc.step('the callback carries code, state and iss', async () => {
    const cb = provider.callbackQuery;
    assert.ok(cb?.get('code'), 'callback carries a code');
    assert.equal(cb.get('state'), provider.lastState, 'callback state');
    assert.equal(cb.get('iss'), issuer, 'callback iss (RFC 9207)');
  });

  await sc.step('finishAuth: exchange the code at /token as the document URL', async () => {
    await first.transport.finishAuth(provider.callbackQuery.get('code'));
    const tok = provider.tokens();
    assert.ok(tok?.access_token, 'access token');
    assert.ok(tok.refresh_token, 'refresh token');
    const claims = jwtClaims(tok.access_token);
    assert.equal(claims.client_id, docs.url, 'access token client_id');
    assert.deepEqual([claims.aud].flat(), [mcpURL], 'access token aud');
  });

  const session = newSDKClient(mcpURL, provider, fetchFn);
  await sc.step('reconnect with the token, list tools, call get_forecast', async () => {
    await session.client.connect(session.transport);
    const { tools } = await session.client.listTools();
    assert.deepEqual(tools.map((x) => x.name).sort(), ['get_alerts', 'get_forecast']);
    const res = await session.client.callTool({ name: 'get_forecast', arguments: { latitude: 47.6062, longitude: -122.3321 } });
    assert.notEqual(res.isError, true, `tool error: ${JSON.stringify(res.content)}`);
    const text = res.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');
    assert.match(text, /offline/, 'the offline sample says so');
  });

  await sc.step("the server's log shows no request to /register", async () => {
    const log = sc.server.output.text(1000);
    // --log-level debug logs every request: method, path, status.
    assert.match(log, /msg=request .*method=POST path=\/token status=200/, 'the request log is on');
    assert.doesNotMatch(log, /path=\/register/);
    assert.doesNotMatch(log, /msg="client registered"/);
  });

  await sc.step('close the session', () => session.client.close());
});
