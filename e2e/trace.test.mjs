// Scenario: the live auth trace (/trace) in headless Chromium. An admin
// opens the page; the TypeScript SDK client connects and its steps appear
// live; the admin clicks "Expire tokens now"; the client's next call gets
// 401, refreshes and retries, and the verdict "refreshed and retried ✓"
// appears. A client whose redirect URI is not registered is named with the
// registered ones; a user who is not an admin gets 403. The page is
// photographed for the README (test-results/trace-page.png).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

import {
  Scenario,
  adminPassword,
  launchChromium,
  saveScreenshot,
  serverBinary,
  startServer,
} from './harness.mjs';
import { ChromiumProvider, authorizeWithSDK, newSDKClient, startCallbackServer } from './sdk-client.mjs';

async function signInAt(page, url, username, password) {
  const res = await page.goto(url);
  if (await page.locator('#sign-in').isVisible()) {
    await page.locator('input[name="username"]').fill(username);
    await page.locator('input[name="password"]').fill(password);
    const [nav] = await Promise.all([page.waitForNavigation(), page.locator('#sign-in').click()]);
    return nav;
  }
  return res;
}

test('auth trace: live events, expire tokens now, the refresh with ✓; 403 for non-admins', { timeout: 180_000 }, async (t) => {
  const sc = new Scenario('trace');
  let callback;
  t.after(async () => {
    await sc.cleanup();
    await callback?.close();
  });
  sc.server = await sc.step('start tenantless', () => startServer());
  const { issuer, mcpURL, db } = sc.server;
  sc.browser = await sc.step('launch headless Chromium', () => launchChromium());
  callback = await sc.step('start the client callback listener', () => startCallbackServer());

  const trace = await sc.browser.newPage();
  await sc.step('open /trace signed in as admin', async () => {
    const res = await signInAt(trace, `${issuer}/trace`, 'admin', adminPassword);
    assert.equal(res.status(), 200, '/trace status for admin');
    await trace.locator('h1', { hasText: 'Auth trace' }).waitFor();
    await trace.locator('#live', { hasText: 'Live' }).waitFor();
    // Marks this document: a reload would lose it.
    await trace.evaluate(() => { window.__noReload = true; });
  });

  let provider;
  let session;
  const callForecast = async () => {
    const res = await session.client.callTool({ name: 'get_forecast', arguments: { latitude: 47.6062, longitude: -122.3321 } });
    assert.notEqual(res.isError, true, `tool error: ${JSON.stringify(res.content)}`);
  };
  await sc.step('the TypeScript SDK client connects and calls a tool', async () => {
    provider = await authorizeWithSDK({ server: sc.server, browser: sc.browser, callback });
    session = newSDKClient(mcpURL, provider);
    await session.client.connect(session.transport);
    await callForecast();
  });
  const clientID = provider.savedClient.client_id;
  const block = trace.locator(`li.attempt[data-client="${clientID}"]`).first();

  await sc.step('its steps appeared on the page without a reload', async () => {
    await block.locator('.ev', { hasText: 'tools/call get_forecast' }).first().waitFor();
    const text = await block.innerText();
    for (const want of ['POST /mcp', 'no access token yet', '/.well-known/oauth-protected-resource/mcp', 'POST /register', 'POST /token', 'authorization_code grant']) {
      assert.ok(text.includes(want), `attempt block shows ${want}:\n${text}`);
    }
    assert.equal(await trace.evaluate(() => window.__noReload), true, 'the page was not reloaded');
    assert.match(await block.locator('h2 .mark').innerText(), /✓/);
  });

  await sc.step('click "Expire tokens now"', async () => {
    await block.locator('details.faults summary').click();
    await Promise.all([trace.waitForNavigation(), block.locator('button[value="expire"]').click()]);
    await trace.locator('.ev.fault', { hasText: 'access tokens expired now' }).first().waitFor();
  });

  await sc.step('the client calls again: 401, refresh, retry; the verdict appears live with ✓', async () => {
    await trace.evaluate(() => { window.__noReload = true; });
    const refreshesBefore = provider.tokenHistory.length;
    await callForecast();
    assert.ok(provider.tokenHistory.length > refreshesBefore, 'the SDK saved new tokens');
    const verdict = trace.locator('.ev.passed', { hasText: 'refreshed and retried ✓' });
    await verdict.first().waitFor();
    const attempt = trace.locator('li.attempt', { has: verdict }).first();
    const text = await attempt.innerText();
    assert.ok(text.includes('refresh_token grant'), `the refresh is in the attempt:\n${text}`);
    assert.ok(text.includes('the access token was expired now (injected fault)'), `the 401 is explained:\n${text}`);
    assert.equal(await trace.evaluate(() => window.__noReload), true, 'the verdict came without a reload');
    sc.print(`[trace] screenshot: ${await saveScreenshot(trace, 'trace-page.png')}`);
  });

  await sc.step('a client with an unregistered redirect URI: the trace names it and lists the registered ones', async () => {
    const out = execFileSync(serverBinary, ['client', 'add', '--db', db, '--json', '--name', 'misconfigured', '--redirect-uri', 'http://127.0.0.1/registered-callback']);
    const pre = JSON.parse(out.toString());
    const bad = new ChromiumProvider({ browser: sc.browser, callback, clientName: 'misconfigured' });
    bad.savedClient = { client_id: pre.client_id };
    const c = newSDKClient(mcpURL, bad);
    await assert.rejects(c.client.connect(c.transport), /error page/);
    const ev = trace.locator(`li.attempt[data-client="${pre.client_id}"] .ev.fail`, { hasText: 'is not registered' });
    await ev.first().waitFor();
    const text = await ev.first().innerText();
    assert.ok(text.includes(`redirect URI "${callback.url}" is not registered`), text);
    assert.ok(text.includes('registered: http://127.0.0.1/registered-callback'), text);
  });

  await sc.step('a user who is not an admin gets 403', async () => {
    execFileSync(serverBinary, ['user', 'add', 'bob', '--db', db], { input: 'bob-password-0123456789\n' });
    const other = await sc.browser.browser()?.newContext?.();
    const ctx = other ?? sc.browser;
    const page = await ctx.newPage();
    if (!other) await page.context().clearCookies();
    const res = await signInAt(page, `${issuer}/trace`, 'bob', 'bob-password-0123456789');
    assert.equal(res.status(), 403, '/trace status for bob');
    assert.match(await page.locator('h1').innerText(), /Admins only/);
    await page.close();
    await other?.close();
  });
});
