// The MCP conformance CLI (@modelcontextprotocol/conformance, pinned by
// package-lock.json) as a child process run with Node 22, and its results.
//
// What the CLI offers was read from its dist/index.js (0.2.0-alpha.12):
//   - `authorization --url ISSUER --client-id ID --resource MCP_URL --port P`
//     runs the authorization server scenarios. authorization-code-grant
//     prints an /authorize URL ("Access the following URL in your
//     browser…"), listens on http://127.0.0.1:P/callback, and exchanges the
//     code it receives there (PKCE S256, client auth `none` whenever the
//     server lists it). It needs the metadata scenario's result, so both run
//     together (no --scenario).
//   - `server --url MCP_URL --scenario NAME` runs one server scenario. It has
//     no option for an access token; conformance-bearer.mjs, preloaded with
//     --import, adds one to the requests for the server's origin.
//   - `-o DIR` writes DIR/<mode>-<scenario>-<timestamp>/checks.json, a list of
//     checks, each with a status (SUCCESS, FAILURE, WARNING, SKIPPED, INFO)
//     and an errorMessage.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { nodeBinary } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const conformanceCLI = join(here, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
export const bearerPreload = join(here, 'conformance-bearer.mjs');

/**
 * Runs the conformance CLI with args, results in outputDir. With bearer
 * ({ token, origin }) the CLI's requests to origin carry the token.
 * onOutput(allTextSoFar) is called as output arrives. Resolves with
 * { code, signal, output, results } once the CLI exits.
 */
export function runConformance(args, { outputDir, bearer, onOutput, timeout = 120_000 } = {}) {
  mkdirSync(outputDir, { recursive: true });
  const env = { ...process.env, NO_COLOR: '1' };
  const node = [];
  if (bearer) {
    node.push('--import', bearerPreload);
    env.CONFORMANCE_BEARER_TOKEN = bearer.token;
    env.CONFORMANCE_BEARER_ORIGIN = bearer.origin;
  }
  const child = spawn(nodeBinary, [...node, conformanceCLI, ...args, '-o', outputDir], {
    cwd: outputDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d) => {
    output += d;
    onOutput?.(output);
  };
  child.stdout.setEncoding('utf8').on('data', keep);
  child.stderr.setEncoding('utf8').on('data', keep);
  const killer = setTimeout(() => child.kill('SIGKILL'), timeout);
  const done = new Promise((ok, fail) => {
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      ok({ code, signal, output, results: readResults(outputDir) });
    });
  });
  done.kill = () => child.kill('SIGKILL');
  done.output = () => output;
  return done;
}

/**
 * Reads every checks.json under dir: a map from scenario name to its checks.
 * A scenario run twice keeps the last run.
 */
export function readResults(dir) {
  const results = new Map();
  if (!existsSync(dir)) return results;
  for (const name of readdirSync(dir).sort()) {
    const m = name.match(/^(?:server|authorization-server)-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/);
    const file = join(dir, name, 'checks.json');
    if (!m || !existsSync(file)) continue;
    results.set(m[1], JSON.parse(readFileSync(file, 'utf8')));
  }
  return results;
}

/**
 * A scenario's verdict: "pass" when no check failed and at least one
 * succeeded, "fail" when a check failed, "empty" when nothing was checked.
 */
export function verdict(checks = []) {
  if (checks.some((c) => c.status === 'FAILURE')) return 'fail';
  return checks.some((c) => c.status === 'SUCCESS') ? 'pass' : 'empty';
}

/** One line per check that is not a plain success: status, id, message. */
export function describeChecks(checks = []) {
  return checks
    .filter((c) => c.status !== 'SUCCESS' && c.status !== 'INFO')
    .map((c) => `${c.status} ${c.id}${c.errorMessage ? `: ${c.errorMessage.replace(/\s+/g, ' ').slice(0, 300)}` : ''}`);
}

/** Counts of check statuses, e.g. "3 SUCCESS, 1 WARNING". */
export function countChecks(checks = []) {
  const n = {};
  for (const c of checks) n[c.status] = (n[c.status] ?? 0) + 1;
  return Object.entries(n)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
}
