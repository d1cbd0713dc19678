// Scenario: tenantless as a gateway in front of an MCP server that has no
// authorization of its own, @modelcontextprotocol/server-everything from npm,
// once over Streamable HTTP (--upstream URL) and once over stdio (-- COMMAND,
// one process per session). The TypeScript SDK client and MCP Inspector in
// Chromium each discover tenantless from the 401, register, sign in and
// consent on the real pages, list server-everything's tools and call echo.

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  Scenario,
  freePort,
  launchChromium,
  nodeBinary,
  recordBrowserTraffic,
  recordingFetch,
  saveScreenshot,
  signInAndAllow,
  startProcess,
  startServer,
} from './harness.mjs';
import { addStreamableHTTPServer, clickConnect, listTools, runTool, startInspector } from './inspector.mjs';
import { authorizeWithSDK, newSDKClient, startCallbackServer } from './sdk-client.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const everything = join(here, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');

/** Starts server-everything's Streamable HTTP transport on a free port. */
async function startEverythingHTTP() {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const proc = await startProcess({
    name: 'server-everything',
    command: nodeBinary,
    args: [everything, 'streamableHttp'],
    env: { ...process.env, PORT: String(port) },
    dir: mkdtempSync(join(tmpdir(), 'tenantless-e2e-everything-')),
    // Any HTTP answer means it listens (a GET without a session is a 4xx).
    ready: async () => {
      const res = await fetch(url).catch(() => null);
      await res?.body?.cancel();
      return res !== null;
    },
    timeout: 30_000,
    interval: 100,
  });
  return { url, ...proc };
}

for (const mode of ['Streamable HTTP', 'stdio']) {
  test(`gateway to server-everything over ${mode}: TypeScript SDK and MCP Inspector sign in, list tools, call echo`, { timeout: 240_000 }, async (t) => {
    const sc = new Scenario(`gateway-${mode === 'stdio' ? 'stdio' : 'http'}`);
    let upstream, inspector, callback;
    t.after(async () => {
      await sc.cleanup();
      await inspector?.stop();
      await callback?.close();
      await upstream?.stop();
    });

    let args;
    if (mode === 'stdio') {
      args = ['--', nodeBinary, everything, 'stdio'];
    } else {
      upstream = await sc.step('start server-everything (Streamable HTTP, no auth)', () => startEverythingHTTP());
      sc.attach('server-everything output', () => upstream.output.text(40));
      args = ['--upstream', upstream.url];
    }
    sc.server = await sc.step(`start tenantless ${args.join(' ')}`, () => startServer({ args }));
    const { issuer, mcpURL } = sc.server;
    sc.browser = await sc.step('launch headless Chromium', () => launchChromium());
    recordBrowserTraffic(sc.browser, issuer, sc.http);
    callback = await sc.step('start the client callback listener on 127.0.0.1', () => startCallbackServer());

    const fetchFn = recordingFetch(sc.http);
    const provider = await sc.step('TypeScript SDK: 401, discovery, DCR, sign-in and consent in Chromium', async () => {
      const p = await authorizeWithSDK({ server: sc.server, browser: sc.browser, callback, fetchFn });
      const challenge = sc.http.find((e) => e.method === 'POST' && e.url === mcpURL);
      assert.equal(challenge?.status, 401);
      assert.match(challenge.www_authenticate ?? '', /scope="mcp"/);
      return p;
    });

    await sc.step('TypeScript SDK: tools/list and echo through the gateway', async () => {
      const { client, transport } = newSDKClient(mcpURL, provider, fetchFn);
      await client.connect(transport);
      const { tools } = await client.listTools();
      const names = tools.map((x) => x.name);
      assert.ok(names.includes('echo') && names.length > 3, `server-everything's tools, got ${names.join(', ')}`);
      const res = await client.callTool({ name: 'echo', arguments: { message: 'hello through tenantless' } });
      assert.match(res.content?.[0]?.text ?? '', /hello through tenantless/);
      await client.close();
    });

    inspector = await sc.step('start MCP Inspector (web UI and backend)', () => startInspector());
    sc.attach('MCP Inspector output', () => inspector.output());
    const page = await sc.browser.newPage();
    await sc.step('Inspector: add the gateway, connect, sign in and allow', async () => {
      await page.goto(inspector.url);
      await page.getByRole('button', { name: 'Add Servers' }).waitFor();
      await addStreamableHTTPServer(page, { id: 'gateway', url: mcpURL });
      await clickConnect(page, 'gateway');
      await page.waitForURL((u) => u.origin === issuer && u.pathname === '/authorize');
      assert.equal(new URL(page.url()).searchParams.get('scope'), 'mcp');
      await signInAndAllow(page);
      await page.waitForURL((u) => u.origin === inspector.origin);
      await page.getByText('Connected', { exact: true }).waitFor();
    });

    await sc.step('Inspector: list tools and run echo', async () => {
      const names = await listTools(page);
      assert.ok(names.includes('echo'), `Inspector's tool list: ${names.join(', ')}`);
      const text = await runTool(page, 'echo', { message: 'hi from Inspector' });
      assert.match(text, /hi from Inspector/);
      sc.print(`[gateway] screenshot: ${await saveScreenshot(page, `gateway-${mode === 'stdio' ? 'stdio' : 'http'}-inspector.png`, { fullPage: false })}`);
    });

    await sc.step('the log has the proxied tool calls', async () => {
      const log = sc.server.output.text();
      assert.match(log, /msg="tool call" .*tool=echo outcome=ok user=admin/);
      if (mode === 'stdio') assert.match(log, /msg="mcp session started" .*session=\S+ user=admin/);
    });
  });
}
