// Scenario 7: the MCP conformance suite (@modelcontextprotocol/conformance)
// against tenantless.
//
// - Authorization server scenarios: authorization-server-metadata-endpoint
//   and authorization-code-grant, the latter through the real sign-in and
//   consent pages in Chromium, with a public client registered by DCR.
// - Server scenarios that apply to an MCP server with our tools (see
//   e2e/README.md for the list and for why the others do not apply), at the
//   session-based 2025-11-25 wire and at the stateless 2026-07-28 wire, run
//   with a bearer token (both scopes) obtained by the TypeScript SDK's DCR +
//   browser flow. A run without the token first shows the server refuses it.
// - Every server scenario, run once more for the record: the table is
//   printed and saved to test-results/conformance/all-server-scenarios.txt;
//   it asserts nothing.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import { countChecks, describeChecks, runConformance, verdict } from './conformance.mjs';
import {
  Scenario,
  freePort,
  launchChromium,
  recordBrowserTraffic,
  recordingFetch,
  resultsDir,
  signInAndAllow,
  startServer,
} from './harness.mjs';
import { ChromiumProvider, newSDKClient, startCallbackServer } from './sdk-client.mjs';

/**
 * The server scenarios that apply to tenantless's MCP server, each with the
 * protocol revision (--spec-version) it runs at: 2025-11-25 goes to the
 * session-based handler, 2026-07-28 to the stateless one.
 */
export const applicableServerScenarios = [
  ['server-initialize', '2025-11-25'],
  ['server-session-lifecycle', '2025-11-25'],
  ['ping', '2025-11-25'],
  ['logging-set-level', '2025-11-25'],
  ['tools-list', '2025-11-25'],
  ['server-sse-multiple-streams', '2025-11-25'],
  ['dns-rebinding-protection', '2025-11-25'],
  ['tools-list', '2026-07-28'],
  ['server-sse-multiple-streams', '2026-07-28'],
  ['dns-rebinding-protection', '2026-07-28'],
  ['caching', '2026-07-28'],
  ['http-header-validation', '2026-07-28'],
  ['input-required-result-unsupported-methods', '2026-07-28'],
];
const applicableNames = new Set(applicableServerScenarios.map(([name]) => name));
const bothScopes = 'weather:read weather:alerts';

/**
 * The SDK asks for the scope in the first 401's WWW-Authenticate
 * (weather:read). http-header-validation calls tools/call on the first tool
 * tools/list names, get_alerts, which needs weather:alerts (without it the
 * server answers 403 insufficient_scope before any header is looked at), so
 * this provider asks for both scopes in the /authorize URL the SDK built.
 */
class BothScopesProvider extends ChromiumProvider {
  async redirectToAuthorization(url) {
    const widened = new URL(url);
    widened.searchParams.set('scope', bothScopes);
    return super.redirectToAuthorization(widened);
  }
}
const outDir = join(resultsDir, 'conformance');

test('MCP conformance: authorization server scenarios through sign-in and consent; server scenarios with a bearer token', { timeout: 300_000 }, async (t) => {
  const sc = new Scenario('conformance');
  let callback;
  let cli; // the CLI run still going, killed on failure
  let lastOutput = ''; // the output of the last CLI run, for the failure report
  t.after(async () => {
    cli?.kill();
    await sc.cleanup();
    await callback?.close();
  });
  const fetchFn = recordingFetch(sc.http);
  sc.attach('conformance CLI output', () => (cli ? cli.output() : lastOutput).split('\n').slice(-40).join('\n'));

  sc.server = await sc.step('start tenantless (request log on)', () => startServer({ args: ['--log-level', 'debug'] }));
  const { issuer, mcpURL } = sc.server;
  sc.browser = await sc.step('launch headless Chromium', () => launchChromium());
  recordBrowserTraffic(sc.browser, issuer, sc.http);

  // ---- authorization server scenarios ----------------------------------

  const callbackPort = await freePort();
  const client = await sc.step(`register a public client (DCR) with redirect URI http://127.0.0.1:${callbackPort}/callback`, async () => {
    const res = await fetchFn(`${issuer}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'MCP conformance suite',
        redirect_uris: [`http://127.0.0.1:${callbackPort}/callback`],
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      }),
    });
    assert.equal(res.status, 201, 'registration status');
    return res.json();
  });

  await sc.step('conformance authorization: metadata endpoint, then the code grant through sign-in and consent in Chromium', async () => {
    let sawURL;
    const authorizeURL = new Promise((ok) => (sawURL = ok));
    cli = runConformance(
      ['authorization', '--url', issuer, '--client-id', client.client_id, '--resource', mcpURL, '--port', String(callbackPort)],
      {
        outputDir: join(outDir, 'authorization'),
        onOutput: (text) => {
          // A whole line: output may arrive in the middle of the URL.
          const m = text.match(/^(http\S+\/authorize\?\S+)\r?\n/m);
          if (m) sawURL(m[1]);
        },
      },
    );
    const url = await Promise.race([authorizeURL, cli.then((r) => r)]);
    if (typeof url !== 'string') throw new Error(`the CLI exited (${url.code}) without printing an authorization URL`);
    const q = new URL(url).searchParams;
    assert.equal(q.get('client_id'), client.client_id);
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.equal(q.get('resource'), mcpURL);

    const page = await sc.browser.newPage();
    await page.goto(url);
    await signInAndAllow(page);
    await page.waitForURL((u) => u.origin === `http://127.0.0.1:${callbackPort}`);
    const { code, results, output } = await cli;
    cli = null;
    lastOutput = output;
    await page.close();

    for (const name of ['authorization-server-metadata-endpoint', 'authorization-code-grant']) {
      const checks = results.get(name);
      sc.print(`[conformance] ${name}: ${verdict(checks)} (${countChecks(checks)})${describeChecks(checks).map((l) => `\n    ${l}`).join('')}`);
      assert.equal(verdict(checks), 'pass', `${name}: ${describeChecks(checks).join('; ') || 'no checks'}`);
    }
    assert.equal(code, 0, 'CLI exit code');
    assert.match(sc.server.output.text(5000), new RegExp(`msg="token issued" .*client_id=${client.client_id} grant_type=authorization_code`));
  });

  // ---- server scenarios ------------------------------------------------

  callback = await sc.step('start the SDK client callback listener on 127.0.0.1', () => startCallbackServer());
  const token = await sc.step(`get an access token for ${bothScopes}: TypeScript SDK, DCR, sign-in and consent in Chromium`, async () => {
    const provider = new BothScopesProvider({ browser: sc.browser, callback });
    const first = newSDKClient(mcpURL, provider, fetchFn);
    await assert.rejects(first.client.connect(first.transport), UnauthorizedError, 'connect without a token');
    await first.transport.finishAuth(provider.callbackQuery.get('code'));
    const tokens = provider.tokens();
    assert.ok(tokens?.access_token, 'no access token after finishAuth');
    assert.deepEqual(tokens.scope?.split(' ').sort(), bothScopes.split(' ').sort(), 'granted scope');
    return tokens.access_token;
  });

  // One per handler: the session-based one (2025-11-25) and the stateless one (2026-07-28).
  for (const [scenario, specVersion] of [['server-initialize', '2025-11-25'], ['tools-list', '2026-07-28']]) {
    await sc.step(`without the token the server scenarios fail: ${scenario} (${specVersion}) gets 401`, async () => {
      const { results, output } = await runConformance(['server', '--url', mcpURL, '--scenario', scenario, '--spec-version', specVersion], {
        outputDir: join(outDir, `server-without-token-${specVersion}`),
      });
      lastOutput = output;
      const checks = results.get(scenario);
      assert.equal(verdict(checks), 'fail', `${scenario} (${specVersion}) without a token: ${countChecks(checks)}`);
      const notes = describeChecks(checks).join('; ');
      sc.print(`[conformance] ${scenario} (${specVersion}) without a token: ${notes}`);
      assert.match(notes, /"error":"unauthorized"/, 'the failure is the 401 body');
      assert.match(sc.server.output.text(5000), /msg=request .*method=POST path=\/mcp status=401/);
    });
  }

  const bearer = { token, origin: issuer };
  for (const [scenario, specVersion] of applicableServerScenarios) {
    await sc.step(`conformance server --scenario ${scenario} --spec-version ${specVersion} (with the bearer token)`, async () => {
      const { results, output } = await runConformance(['server', '--url', mcpURL, '--scenario', scenario, '--spec-version', specVersion], {
        outputDir: join(outDir, `server-${specVersion}`),
        bearer,
      });
      lastOutput = output;
      const checks = results.get(scenario);
      assert.ok(checks, `no results for ${scenario}:\n${output.slice(-2000)}`);
      const notes = describeChecks(checks);
      sc.print(`[conformance] ${scenario} (${specVersion}): ${verdict(checks)} (${countChecks(checks)})${notes.map((l) => `\n    ${l}`).join('')}`);
      assert.equal(verdict(checks), 'pass', `${scenario} (${specVersion}): ${notes.join('; ')}`);
    });
  }

  await sc.step('every server scenario, for the record (asserts nothing)', async () => {
    const { results } = await runConformance(['server', '--url', mcpURL, '--suite', 'all', '--timeout', '15000'], {
      outputDir: join(outDir, 'server-all'),
      bearer,
    });
    const lines = [...results].map(([name, checks]) => {
      const applies = applicableNames.has(name) ? 'applies' : '-';
      return `${name.padEnd(48)} ${applies.padEnd(8)} ${verdict(checks).padEnd(6)} ${countChecks(checks)}`;
    });
    const table = [`${'scenario'.padEnd(48)} ${'applies'.padEnd(8)} ${'result'.padEnd(6)} checks`, ...lines].join('\n');
    writeFileSync(join(outDir, 'all-server-scenarios.txt'), `${table}\n`);
    sc.print(`[conformance] all ${results.size} server scenarios (--suite all, default spec version per scenario):\n${table}`);
  });
});
