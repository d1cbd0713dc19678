// Scenario: three clients, one after the other, against one tenantless that
// keeps running, all identified by the same Client ID Metadata Document URL,
// as when a client developer edits their document between tries:
//
//   1. the TypeScript SDK with clientMetadataUrl (its own callback);
//   2. MCP Inspector, with "Use Client ID Metadata Document" switched on in
//      its Client settings and the same URL entered (its /oauth/callback);
//   3. a VS Code-style flow: VS Code's document shape, served with
//      Cache-Control: no-store, a loopback redirect on a random port with a
//      trailing slash, a base64 state, the token and refresh requests VS Code
//      sends.
//
// Between the steps the document server swaps the document (client_name and
// redirect URIs). Each sign-in must succeed without a restart: a redirect URI
// the cached copy does not list makes tenantless fetch the document again.
// The consent given in step 1 belongs to the client_id and carries over.

import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHTTPServer } from 'node:http';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import {
  Scenario,
  adminPassword,
  freePort,
  jwtClaims,
  launchChromium,
  recordBrowserTraffic,
  recordingFetch,
  saveScreenshot,
  startServer,
} from './harness.mjs';
import { addStreamableHTTPServer, clickConnect, listTools, runTool, schemaWarnings, startInspector, useClientMetadataDocument } from './inspector.mjs';
import { ChromiumProvider, newSDKClient, startCallbackServer } from './sdk-client.mjs';
import { newTestCA } from './test-ca.mjs';

const documentPath = '/oauth/client-metadata.json';

/**
 * Serves one client metadata document URL over https on 127.0.0.1, with a
 * certificate from ca. set(fields, cacheControl) swaps what it serves; every
 * fetch is remembered with the client_name it got.
 */
async function startDocumentServer(ca) {
  const port = await freePort();
  const url = `https://127.0.0.1:${port}${documentPath}`;
  let current = null;
  let cacheControl = 'max-age=300';
  const fetches = [];
  const { certPEM, keyPEM } = ca.issue();
  const server = createServer({ cert: certPEM, key: keyPEM }, (req, res) => {
    if (req.method !== 'GET' || req.url !== documentPath || !current) {
      res.writeHead(404).end();
      return;
    }
    fetches.push({ at: new Date().toISOString(), clientName: current.client_name, userAgent: req.headers['user-agent'] });
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': cacheControl });
    res.end(JSON.stringify(current));
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return {
    url,
    hostPort: `127.0.0.1:${port}`,
    fetches,
    set(fields, cc = 'max-age=300') {
      current = {
        client_id: url,
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        ...fields,
      };
      cacheControl = cc;
    },
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(ok);
      }),
  };
}

/**
 * Signs in on the tenantless page open in page and allows on the consent
 * page if one comes (a consent given before for this client_id is
 * remembered, and then none does). Returns whether consent was asked.
 */
async function signInAllowIfAsked(page, issuer) {
  const signIn = page.locator('#sign-in');
  const allow = page.locator('#allow');
  const errorPage = page.locator('p.note', { hasText: 'Error code:' });
  const offIssuer = () => new URL(page.url()).origin !== issuer;
  const failIfError = async () => {
    if (await errorPage.isVisible()) {
      throw new Error(`tenantless showed an error page: ${(await page.locator('main').innerText()).replace(/\s+/g, ' ').trim()}`);
    }
  };
  await signIn.or(allow).or(errorPage).first().waitFor();
  await failIfError();
  if (await signIn.isVisible()) {
    await page.locator('input[name="username"]').fill('admin');
    await page.locator('input[name="password"]').fill(adminPassword);
    await Promise.all([page.waitForEvent('framenavigated'), signIn.click()]);
  }
  // Either the consent page, or straight back to the client.
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (offIssuer()) return false;
    if (await allow.isVisible().catch(() => false)) {
      await allow.click();
      return true;
    }
    await failIfError();
    await page.waitForTimeout(50);
  }
  throw new Error(`no consent page and no redirect back within 30 s; at ${page.url()}`);
}

/** A loopback listener like VS Code's: any path, hands over the query of the first request to "/". */
async function startVSCodeLoopback() {
  const port = await freePort();
  let resolve;
  const query = new Promise((ok) => (resolve = ok));
  const server = createHTTPServer((req, res) => {
    const url = new URL(req.url, `http://127.0.0.1:${port}`);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>VS Code</title><p id="done">You can close this window.</p>');
    if (url.pathname === '/') resolve(url.searchParams);
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return { redirectURI: `http://127.0.0.1:${port}/`, query, close: () => new Promise((ok) => server.close(ok)) };
}

/** Parses a Bearer challenge as VS Code does (scheme compared case-sensitively). */
function parseChallenge(header) {
  assert.ok(header?.startsWith('Bearer '), `WWW-Authenticate ${header} starts with "Bearer "`);
  const params = {};
  for (const m of header.slice(7).matchAll(/(\w+)="([^"]*)"/g)) params[m[1]] = m[2];
  return params;
}

function form(body) {
  return { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body).toString() };
}

test('one server, three clients, one metadata document URL whose document changes between them: TS SDK, MCP Inspector (CIMD), VS Code-style', { timeout: 300_000 }, async (t) => {
  const sc = new Scenario('cimd-clients');
  const dir = mkdtempSync(join(tmpdir(), 'tenantless-e2e-cimd-clients-'));
  let callback, docs, inspector, loopback;
  const browsers = [];
  t.after(async () => {
    for (const b of browsers) await b.close();
    sc.browser = null;
    await sc.cleanup();
    await inspector?.stop();
    await callback?.close();
    await loopback?.close();
    await docs?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const newBrowser = async () => {
    const b = await launchChromium();
    browsers.push(b);
    sc.browser = b;
    recordBrowserTraffic(b, sc.server.issuer, sc.http);
    return b;
  };

  const caFile = join(dir, 'ca.pem');
  docs = await sc.step('serve one metadata document URL over https on 127.0.0.1 (test CA)', async () => {
    const ca = newTestCA();
    writeFileSync(caFile, ca.certPEM);
    return startDocumentServer(ca);
  });
  sc.attach('metadata document fetches', () => docs.fetches.map((f) => `${f.at} ${f.clientName} (${f.userAgent})`).join('\n'));
  sc.server = await sc.step(`start tenantless once, with --cimd-ca and --cimd-allow-host ${docs.hostPort}`, () =>
    startServer({ args: ['--cimd-ca', caFile, '--cimd-allow-host', docs.hostPort, '--log-level', 'debug'] }),
  );
  const { issuer, mcpURL } = sc.server;
  const fetchesOf = (name) => docs.fetches.filter((f) => f.clientName === name).length;

  // 1. The TypeScript SDK.
  callback = await startCallbackServer();
  const sdkName = 'tenantless e2e (TypeScript SDK, metadata document)';
  docs.set({ client_name: sdkName, redirect_uris: [callback.url] });
  const sdkBrowser = await sc.step('launch Chromium for the SDK user', () => newBrowser());
  const provider = new ChromiumProvider({ browser: sdkBrowser, callback, clientMetadataUrl: docs.url });
  const fetchFn = recordingFetch(sc.http);
  await sc.step('TS SDK: 401, discovery, /authorize with the document URL, sign-in and consent, token, tools', async () => {
    const first = newSDKClient(mcpURL, provider, fetchFn);
    await assert.rejects(first.client.connect(first.transport), UnauthorizedError);
    assert.equal(provider.authorizationURLs[0].searchParams.get('client_id'), docs.url);
    await first.transport.finishAuth(provider.callbackQuery.get('code'));
    assert.equal(jwtClaims(provider.tokens().access_token).client_id, docs.url);
    const session = newSDKClient(mcpURL, provider, fetchFn);
    await session.client.connect(session.transport);
    const { tools } = await session.client.listTools();
    assert.deepEqual(tools.map((x) => x.name).sort(), ['get_alerts', 'get_forecast']);
    const res = await session.client.callTool({ name: 'get_forecast', arguments: { latitude: 47.6062, longitude: -122.3321 } });
    assert.notEqual(res.isError, true, JSON.stringify(res.content));
    await session.client.close();
    assert.ok(fetchesOf(sdkName) >= 1, 'tenantless fetched the SDK document');
  });

  // 2. MCP Inspector, its CIMD client setting on, same URL, its own redirect URI.
  inspector = await sc.step('start MCP Inspector', () => startInspector());
  sc.attach('MCP Inspector output', () => inspector.output());
  const inspectorName = 'MCP Inspector (e2e metadata document)';
  const inspectorBrowser = await sc.step('launch Chromium for the Inspector user (signed out)', () => newBrowser());
  const page = await inspectorBrowser.newPage();
  await sc.step('Inspector: Client settings → "Use Client ID Metadata Document" with the same URL; the document now lists the redirect URI the dialog names', async () => {
    await page.goto(inspector.url);
    await page.getByRole('button', { name: 'Add Servers' }).waitFor();
    const redirect = await useClientMetadataDocument(page, docs.url);
    assert.equal(redirect, inspector.callbackURL, 'the redirect URI Inspector asks the document to list');
    docs.set({ client_name: inspectorName, redirect_uris: [redirect] });
  });
  await sc.step('Inspector: add the server and connect: /authorize carries the document URL as client_id', async () => {
    await addStreamableHTTPServer(page, { id: 'tenantless', url: mcpURL });
    await clickConnect(page, 'tenantless');
    await page.waitForURL((u) => u.origin === issuer && u.pathname === '/authorize');
    const q = new URL(page.url()).searchParams;
    assert.equal(q.get('client_id'), docs.url, 'Inspector uses the metadata document URL as client_id');
    assert.equal(q.get('redirect_uri'), inspector.callbackURL);
  });
  await sc.step('Inspector: sign in (the consent from step 1 is remembered), back to Inspector connected', async () => {
    assert.equal(await signInAllowIfAsked(page, issuer), false, 'no consent page: the consent belongs to the client_id');
    await page.waitForURL((u) => u.origin === inspector.origin);
    await page.getByText('Connected', { exact: true }).waitFor();
    assert.ok(fetchesOf(inspectorName) >= 1, 'tenantless fetched the changed document');
    assert.match(sc.server.output.text(5000), /fetched again for an unlisted redirect URI/);
    assert.doesNotMatch(sc.server.output.text(5000), /path=\/register/, 'no dynamic registration');
  });
  await sc.step('Inspector: both tools listed, neither with a schema warning marker; get_forecast runs', async () => {
    assert.deepEqual(await listTools(page), ['get_alerts', 'get_forecast']);
    assert.deepEqual(await schemaWarnings(page), [], 'tools flagged "Schema portability" by Inspector');
    const text = await runTool(page, 'get_forecast', { latitude: 47.6062, longitude: -122.3321 });
    assert.match(text, /Forecast for Seattle/);
    sc.print(`[cimd-clients] screenshot: ${await saveScreenshot(page, 'inspector-cimd-tools.png', { fullPage: false })}`);
  });

  // 3. VS Code-style: VS Code's document shape, no-store, random loopback port.
  const vscodeName = 'Visual Studio Code (e2e)';
  docs.set(
    {
      client_name: vscodeName,
      redirect_uris: ['http://127.0.0.1:33418/', 'https://vscode.dev/redirect'],
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      application_type: 'native',
      client_uri: 'https://code.visualstudio.com',
    },
    'no-store',
  );
  loopback = await startVSCodeLoopback();
  let discovered;
  await sc.step('VS Code-style: 401 → protected resource metadata → AS metadata advertising metadata documents', async () => {
    const res = await fetchFn(mcpURL, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'Visual Studio Code', version: '1.107.0' } } }),
    });
    assert.equal(res.status, 401);
    const ch = parseChallenge(res.headers.get('www-authenticate'));
    const prm = await (await fetchFn(ch.resource_metadata)).json();
    assert.equal(prm.resource, mcpURL, 'PRM resource equals the MCP URL');
    const asm = await (await fetchFn(`${prm.authorization_servers[0]}/.well-known/oauth-authorization-server`)).json();
    assert.equal(asm.client_id_metadata_document_supported, true);
    discovered = { scope: ch.scope ?? prm.scopes_supported.join(' '), resource: prm.resource, asm };
  });
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64'); // VS Code's: has + / =
  let code;
  await sc.step(`VS Code-style: sign in with redirect_uri ${loopback.redirectURI} (a port the document does not name)`, async () => {
    const q = new URLSearchParams({
      client_id: docs.url,
      response_type: 'code',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      scope: discovered.scope,
      resource: discovered.resource,
      redirect_uri: loopback.redirectURI,
      state,
    });
    const b = await newBrowser();
    const p = await b.newPage();
    await p.goto(`${discovered.asm.authorization_endpoint}?${q}`);
    assert.equal(await signInAllowIfAsked(p, issuer), false, 'no consent page: the consent belongs to the client_id');
    const back = await loopback.query;
    assert.equal(back.get('state'), state, 'state comes back byte for byte');
    assert.equal(back.get('iss'), issuer);
    code = back.get('code');
    assert.ok(code, 'code');
    assert.ok(fetchesOf(vscodeName) >= 1, 'tenantless fetched the VS Code-shaped document');
  });
  await sc.step('VS Code-style: token (form: client_id, code, redirect_uri, code_verifier, resource), MCP tools, refresh', async () => {
    const tok = await (
      await fetchFn(discovered.asm.token_endpoint, form({ client_id: docs.url, grant_type: 'authorization_code', code, redirect_uri: loopback.redirectURI, code_verifier: verifier, resource: discovered.resource }))
    ).json();
    assert.ok(tok.access_token && tok.refresh_token, `token response ${JSON.stringify(tok)}`);
    assert.equal(jwtClaims(tok.access_token).client_id, docs.url);
    const client = new Client({ name: 'Visual Studio Code', version: '1.107.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpURL), { requestInit: { headers: { authorization: `Bearer ${tok.access_token}` } } }));
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((x) => x.name).sort(), ['get_alerts', 'get_forecast']);
    await client.close();
    const refreshed = await (await fetchFn(discovered.asm.token_endpoint, form({ grant_type: 'refresh_token', client_id: docs.url, refresh_token: tok.refresh_token, resource: discovered.resource }))).json();
    assert.ok(refreshed.access_token && refreshed.refresh_token && refreshed.refresh_token !== tok.refresh_token, `refresh ${JSON.stringify(refreshed)}`);
  });

  await sc.step('one server lifetime: every document version was fetched, nothing restarted', async () => {
    sc.print(`[cimd-clients] document fetches: ${docs.fetches.map((f) => f.clientName).join(' | ')}`);
    for (const name of [sdkName, inspectorName, vscodeName]) assert.ok(fetchesOf(name) >= 1, `a fetch served "${name}"`);
    assert.doesNotMatch(sc.server.output.text(5000), /level=ERROR/);
  });
});
