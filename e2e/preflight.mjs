// Runs before `npm test`: checks that Debian's Chromium is installed and
// builds the tenantless binary with the Makefile (unless TENANTLESS_BIN
// names one already built, as `make e2e` does).

import { spawnSync } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromiumPath, resultsDir, serverBinary } from './harness.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
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
console.log(`e2e: server ${serverBinary}, browser ${chromiumPath}`);
