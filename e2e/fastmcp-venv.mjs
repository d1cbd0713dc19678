// A Python virtual environment in e2e/.venv (git-ignored) with FastMCP and
// every dependency at the versions requirements.txt pins, for the FastMCP
// recipe. It is made on first use and again whenever requirements.txt
// changes (a stamp file records its SHA-256); `python3 -m venv` and pip
// from PyPI are all it needs. PYTHON names another interpreter (3.10+).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const venvDir = join(here, '.venv');
const requirements = join(here, 'requirements.txt');
const stamp = join(venvDir, 'requirements.sha256');

/** Returns the venv's python, creating or updating the venv first if needed. */
export function fastmcpPython({ log = (line) => process.stderr.write(`${line}\n`) } = {}) {
  const python = join(venvDir, 'bin', 'python');
  const want = createHash('sha256').update(readFileSync(requirements)).digest('hex');
  if (existsSync(python) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === want) return python;
  const start = Date.now();
  log(`[fastmcp-venv] creating ${venvDir} and installing requirements.txt (pip, once)`);
  const run = (cmd, args) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  try {
    run(process.env.PYTHON || 'python3', ['-m', 'venv', '--clear', venvDir]);
    run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--quiet', '-r', requirements]);
  } catch (err) {
    throw new Error(`could not make the FastMCP venv (needs python3 with venv, and PyPI): ${err.stderr || err.message}`);
  }
  writeFileSync(stamp, `${want}\n`);
  log(`[fastmcp-venv] ready in ${Date.now() - start} ms`);
  return python;
}
