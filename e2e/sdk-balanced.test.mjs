// Scenario: three tenantless instances on one PostgreSQL database behind
// nginx (round-robin), as "Running several instances" in the README sets
// them up. The MCP TypeScript SDK registers with DCR, signs a person in
// through the real pages in headless Chromium, calls tools and refreshes
// its token silently, each request landing on whichever instance nginx
// picks. Needs TENANTLESS_TEST_POSTGRES_URL (run it under .ci/postgres)
// and Debian's nginx; skipped without them.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import {
  Scenario,
  adminPassword,
  freePort,
  jwtClaims,
  launchChromium,
  recordBrowserTraffic,
  recordingFetch,
  serverBinary,
  startProcess,
  waitFor,
} from './harness.mjs';
import { ChromiumProvider, newSDKClient, startCallbackServer } from './sdk-client.mjs';

const databaseURL = process.env.TENANTLESS_TEST_POSTGRES_URL;
const nginx = '/usr/sbin/nginx';
const skip = !databaseURL
  ? 'needs TENANTLESS_TEST_POSTGRES_URL: run it with .ci/postgres (make test-postgres-e2e)'
  : !existsSync(nginx)
    ? 'needs nginx: apt-get install nginx-light'
    : false;

function psql(sql) {
  const r = spawnSync('psql', [databaseURL, '-qAtc', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql ${sql}: ${r.stderr || r.error}`);
}

test('TypeScript SDK through nginx and three instances on PostgreSQL: DCR, sign-in, tools, silent refresh', { skip, timeout: 240_000 }, async (t) => {
  const sc = new Scenario('sdk-balanced');
  const procs = [];
  let callback;
  const schema = `e2e_${randomBytes(6).toString('hex')}`;
  t.after(async () => {
    await sc.cleanup();
    await callback?.close();
    for (const p of procs.reverse()) await p.stop();
    try {
      psql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } catch {}
  });

  const lbPort = await freePort();
  const issuer = `http://localhost:${lbPort}`;
  const mcpURL = `${issuer}/mcp`;
  // (Not WHATWG URL: a libpq URL may have an empty host, for a socket.)
  const db = `${databaseURL}${databaseURL.includes('?') ? '&' : '?'}search_path=${schema}`;
  const instances = [];
  await sc.step('three instances on one PostgreSQL schema, one issuer (access tokens live 5 s)', async () => {
    psql(`CREATE SCHEMA ${schema}`);
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const p = await startProcess({
        name: `instance ${i}`,
        command: serverBinary,
        args: ['serve', '--addr', `127.0.0.1:${port}`, '--db', db, '--issuer', issuer, '--weather', 'offline',
          '--access-token-ttl', '5s', '--log-level', 'debug'],
        env: { ...process.env, TENANTLESS_ADMIN_PASSWORD: adminPassword },
        dir: mkdtempSync(join(tmpdir(), 'tenantless-e2e-')),
        readyURL: `http://127.0.0.1:${port}/readyz`,
        timeout: 30_000,
        interval: 50,
        tailLines: 5000,
      });
      procs.push(p);
      instances.push({ port, output: p.output });
      sc.attach(`instance ${i} output`, () => p.output.text(30));
    }
  });

  await sc.step('nginx in front, round-robin, Host passed through', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tenantless-nginx-'));
    const user = process.getuid?.() === 0 ? 'user root;' : '';
    const servers = instances.map((x) => `server 127.0.0.1:${x.port};`).join(' ');
    writeFileSync(join(dir, 'nginx.conf'), `${user}
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream tenantless { ${servers} keepalive 16; }
  server {
    listen 127.0.0.1:${lbPort};
    location / {
      proxy_pass http://tenantless; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host $http_host; proxy_buffering off;
    }
  }
}
`);
    procs.push(await startProcess({
      name: 'nginx',
      command: nginx,
      args: ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'],
      dir,
      readyURL: `http://127.0.0.1:${lbPort}/readyz`,
      timeout: 20_000,
      interval: 50,
    }));
  });

  sc.browser = await sc.step('launch headless Chromium', () => launchChromium());
  recordBrowserTraffic(sc.browser, issuer, sc.http);
  callback = await sc.step('start the client callback listener on 127.0.0.1', () => startCallbackServer());
  const provider = new ChromiumProvider({ browser: sc.browser, callback });
  const fetchFn = recordingFetch(sc.http);
  const newClient = () => newSDKClient(mcpURL, provider, fetchFn);

  const first = newClient();
  await sc.step('connect without a token: 401, discovery, DCR, sign-in and consent through the balancer', async () => {
    await assert.rejects(first.client.connect(first.transport), UnauthorizedError);
    const reg = sc.http.find((e) => e.method === 'POST' && e.url === `${issuer}/register`);
    assert.equal(reg?.status, 201, 'registration status');
    assert.equal(provider.callbackQuery?.get('iss'), issuer, 'callback iss: the one issuer');
    await first.transport.finishAuth(provider.callbackQuery.get('code'));
    const tok = provider.tokens();
    assert.ok(tok?.access_token && tok.refresh_token, 'access and refresh tokens');
    assert.deepEqual([jwtClaims(tok.access_token).aud].flat(), [mcpURL], 'access token aud');
  });

  const session = newClient();
  const callForecast = async () => {
    const res = await session.client.callTool({ name: 'get_forecast', arguments: { latitude: 47.6062, longitude: -122.3321 } });
    assert.notEqual(res.isError, true, `tool error: ${JSON.stringify(res.content)}`);
    assert.match(res.content.map((c) => c.text ?? '').join('\n'), /offline/);
  };
  await sc.step('connect with the token, list tools, call get_forecast a few times', async () => {
    await session.client.connect(session.transport);
    const { tools } = await session.client.listTools();
    assert.deepEqual(tools.map((x) => x.name).sort(), ['get_alerts', 'get_forecast']);
    for (let i = 0; i < 4; i++) await callForecast();
  });

  const before = provider.tokens();
  const refreshesBefore = sc.http.filter((e) => e.grant_type === 'refresh_token').length;
  await sc.step('wait until the instances reject the old access token (5 s TTL)', async () => {
    const { exp } = jwtClaims(before.access_token);
    await waitFor('POST /mcp with the old token to answer 401', async () => {
      const r = await fetch(mcpURL, {
        method: 'POST',
        headers: { authorization: `Bearer ${before.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 'probe', method: 'ping' }),
      });
      await r.body?.cancel();
      return r.status === 401;
    }, { timeout: Math.max(0, exp * 1000 - Date.now()) + 15_000, interval: 250 });
  });

  await sc.step('call get_forecast again: the SDK refreshes silently, through whichever instance', async () => {
    await callForecast();
    const after = provider.tokens();
    assert.notEqual(after.refresh_token, before.refresh_token, 'refresh token rotated');
    const refreshes = sc.http.filter((e) => e.grant_type === 'refresh_token');
    assert.equal(refreshes.length, refreshesBefore + 1, 'one refresh_token grant');
    assert.equal(refreshes.at(-1).status, 200, 'refresh status');
    assert.equal(provider.authorizationURLs.length, 1, 'no second trip through the browser');
    await session.client.close();
  });

  await sc.step('every instance served part of it', async () => {
    for (const [i, x] of instances.entries()) {
      const served = x.output.lines.filter((l) => l.includes('msg=request ')).length;
      assert.ok(served > 0, `instance ${i} logged no request`);
      sc.print(`[sdk-balanced] instance ${i} served ${served} requests`);
    }
  });
});
