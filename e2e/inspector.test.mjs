// Scenario 3: MCP Inspector v2, used the way a person uses it. Its web UI runs
// in headless Chromium; its backend does discovery, registers itself with
// Dynamic Client Registration, and sends the browser to the tenantless
// sign-in and consent pages; back in Inspector the person lists the tools and
// runs get_forecast.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Scenario, launchChromium, recordBrowserTraffic, saveScreenshot, signInAndAllow, startServer } from './harness.mjs';
import { addStreamableHTTPServer, clickConnect, listTools, runTool, schemaWarnings, startInspector } from './inspector.mjs';

test('MCP Inspector: add server, OAuth through sign-in and consent, list tools, run get_forecast', { timeout: 180_000 }, async (t) => {
  const sc = new Scenario('inspector');
  let inspector;
  t.after(async () => {
    await sc.cleanup();
    await inspector?.stop();
  });

  sc.server = await sc.step('start tenantless', () => startServer());
  const { issuer, mcpURL } = sc.server;
  inspector = await sc.step('start MCP Inspector (web UI and backend)', () => startInspector());
  sc.attach('MCP Inspector output', () => inspector.output());
  sc.browser = await sc.step('launch headless Chromium', () => launchChromium());
  recordBrowserTraffic(sc.browser, issuer, sc.http);

  const page = await sc.browser.newPage();
  // Every URL the tab visits, redirects included, in order.
  const visited = [];
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) visited.push(new URL(frame.url()));
  });

  await sc.step('open the Inspector UI', async () => {
    await page.goto(inspector.url);
    await page.getByRole('button', { name: 'Add Servers' }).waitFor();
  });

  await sc.step(`add a Streamable HTTP server ${mcpURL}`, async () => {
    await addStreamableHTTPServer(page, { id: 'tenantless', url: mcpURL });
    await page.getByText(mcpURL, { exact: true }).waitFor();
    await page.getByText('Streamable HTTP', { exact: true }).waitFor();
  });

  await sc.step('connect: Inspector registers (DCR) and sends the browser to /authorize', async () => {
    await clickConnect(page, 'tenantless');
    await page.waitForURL((u) => u.origin === issuer && u.pathname === '/authorize');
    const q = new URL(page.url()).searchParams;
    assert.equal(q.get('response_type'), 'code');
    assert.match(q.get('client_id') ?? '', /\S/, 'client_id');
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.equal(q.get('redirect_uri'), inspector.callbackURL);
    assert.equal(q.get('resource'), mcpURL);
    assert.equal(q.get('scope'), 'weather:read');
    assert.ok((q.get('state') ?? '').length >= 8, 'state of 8 characters or more');
    await page.locator('#sign-in').waitFor();
    assert.match(sc.server.output.text(), /msg="client registered".*client_name="MCP Inspector"/);
  });

  await sc.step('sign in as admin and allow on the consent page', async () => {
    await signInAndAllow(page);
    await page.waitForURL((u) => u.origin === inspector.origin);
  });

  await sc.step('back in Inspector: the callback is accepted and the server shows Connected', async () => {
    const callback = visited.find((u) => u.origin === inspector.origin && u.pathname === '/oauth/callback');
    assert.ok(callback, `the tab visited ${inspector.callbackURL}; it visited ${visited.map((u) => u.origin + u.pathname).join(', ')}`);
    assert.ok(callback.searchParams.get('code'), 'callback carries a code');
    assert.equal(callback.searchParams.get('iss'), issuer, 'callback iss (RFC 9207)');
    await page.getByText('Connected', { exact: true }).waitFor();
    await page.getByText('Authentication succeeded.').waitFor();
    assert.match(sc.server.output.text(), /msg="token issued".*grant_type=authorization_code/);
    sc.print(`[inspector] screenshot: ${await saveScreenshot(page, 'inspector-connected.png', { fullPage: false })}`);
  });

  await sc.step('list tools: both, and neither carries a schema warning marker', async () => {
    assert.deepEqual(await listTools(page), ['get_alerts', 'get_forecast']);
    assert.deepEqual(await schemaWarnings(page), [], 'tools flagged "Schema portability" by Inspector');
  });

  await sc.step('run get_forecast(47.6062, -122.3321) and read the result', async () => {
    const text = await runTool(page, 'get_forecast', { latitude: 47.6062, longitude: -122.3321 });
    assert.match(text, /Forecast for Seattle/);
    assert.match(text, /SAMPLE DATA, NOT A REAL FORECAST/);
    sc.print(`[inspector] screenshot: ${await saveScreenshot(page, 'inspector-tool-result.png', { fullPage: false })}`);
  });

  // The route guard refused these instead of letting them leave the machine.
  sc.print(`[inspector] browser requests refused off loopback: ${sc.browser.blocked.join(', ') || 'none'}`);
});
