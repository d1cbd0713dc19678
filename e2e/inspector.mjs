// MCP Inspector v2 (the npm package @modelcontextprotocol/inspector, pinned
// by package-lock.json) as a child process, and the few moves in its web UI
// the scenarios need.
//
// How v2 is started and configured was read from the package itself
// (clients/web/build/index.js):
//   - the launcher clients/launcher/build/index.js --web runs the web UI and
//     its Node backend in one process; the backend makes every MCP and OAuth
//     request, so the browser never talks to tenantless except for the
//     sign-in and consent pages;
//   - CLIENT_PORT is the web UI's port (fixed, 0 is refused), MCP_SANDBOX_PORT
//     and MCP_APP_ORIGIN_PORT are the MCP Apps sandbox and app-origin
//     listeners (0 = any free port); all bind 127.0.0.1 (HOST);
//   - MCP_INSPECTOR_API_TOKEN is the token the UI must present to its own
//     backend; the UI takes it from the ?MCP_INSPECTOR_API_TOKEN= query;
//   - MCP_AUTO_OPEN_ENABLED=false keeps it from opening a browser;
//   - MCP_STORAGE_DIR holds its OAuth state; MCP_INSPECTOR_SECRET_STORE=memory
//     keeps secrets off disk and out of any OS keychain;
//   - --catalog FILE is the writable server list; an empty one replaces the
//     default seed (which points at servers on the internet).
//   - The OAuth callback is <UI origin>/oauth/callback.
//   - Client settings (the header's gear: the CIMD switch and its metadata
//     document URL, the enterprise IdP) are saved as they change, in
//     MCP_STORAGE_DIR/client.json ({"cimd": {"enabled": true,
//     "clientMetadataUrl": "https://…"}}); with CIMD on and an authorization
//     server advertising client_id_metadata_document_supported, Inspector
//     uses that URL as its client_id instead of registering.
//   - A tool whose input or output schema trips Inspector's portability lint
//     (type arrays, untyped schemas, remote $ref) gets an icon in the tool
//     list with aria-label "Schema portability: N warnings".

import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort, nodeBinary, startProcess, waitFor } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const launcher = join(here, 'node_modules', '@modelcontextprotocol', 'inspector', 'clients', 'launcher', 'build', 'index.js');

/** Starts the Inspector web UI on a free 127.0.0.1 port with an empty server list. */
export async function startInspector() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tenantless-e2e-inspector-'));
  const catalog = join(dir, 'catalog.json');
  writeFileSync(catalog, JSON.stringify({ mcpServers: {} }));
  const token = randomBytes(16).toString('hex');
  const origin = `http://127.0.0.1:${port}`;
  const proc = await startProcess({
    name: 'inspector',
    command: nodeBinary,
    args: [launcher, '--web', '--catalog', catalog],
    cwd: dir,
    env: {
      ...process.env,
      HOME: dir,
      HOST: '127.0.0.1',
      CLIENT_PORT: String(port),
      MCP_SANDBOX_PORT: '0',
      MCP_APP_ORIGIN_PORT: '0',
      MCP_AUTO_OPEN_ENABLED: 'false',
      MCP_STORAGE_DIR: join(dir, 'storage'),
      MCP_INSPECTOR_SECRET_STORE: 'memory',
      MCP_INSPECTOR_API_TOKEN: token,
    },
    dir,
    readyURL: origin,
    timeout: 60_000,
    interval: 100,
  });
  return {
    origin,
    /** The URL a person opens: it carries the backend token. */
    url: `${origin}/?MCP_INSPECTOR_API_TOKEN=${token}`,
    callbackURL: `${origin}/oauth/callback`,
    output: (n = 40) => proc.output.text(n),
    stop: proc.stop,
  };
}

/** Adds a Streamable HTTP server through "Add Servers → Add manually". */
export async function addStreamableHTTPServer(page, { id, url }) {
  await page.getByRole('button', { name: 'Add Servers' }).click();
  await page.getByRole('menuitem', { name: 'Add manually' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('textbox', { name: 'Server ID' }).fill(id);
  await dialog.getByRole('textbox', { name: 'Transport' }).click();
  await page.getByRole('option', { name: 'streamable-http', exact: true }).click();
  await dialog.getByRole('textbox', { name: 'URL' }).fill(url);
  await dialog.getByRole('button', { name: 'Add', exact: true }).click();
  await dialog.waitFor({ state: 'detached' });
}

/**
 * Turns on "Use Client ID Metadata Document" in Client settings and enters
 * url, as a person does (Inspector saves Client settings as they change);
 * returns the redirect URI the dialog says the document must list.
 */
export async function useClientMetadataDocument(page, url) {
  await page.getByRole('button', { name: 'Client settings' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: 'OAuth Client ID Metadata Document' }).click();
  const box = dialog.getByRole('checkbox', { name: 'Use Client ID Metadata Document' });
  // A visually hidden input: its label takes the click.
  await dialog.locator(`label[for="${await box.getAttribute('id')}"]`).click();
  if (!(await box.isChecked())) throw new Error('the "Use Client ID Metadata Document" switch did not turn on');
  const field = dialog.getByRole('textbox', { name: 'Client ID metadata document URL' });
  await field.fill(url);
  await field.blur();
  const text = await dialog.innerText();
  const redirect = text.match(/list this redirect URI:\s*(\S+)/)?.[1];
  if (!redirect) throw new Error(`the Client settings dialog names no redirect URI:\n${text}`);
  await dialog.getByRole('button', { name: 'Close' }).click();
  await dialog.waitFor({ state: 'detached' });
  return redirect;
}

/** Flips the server card's Connect switch (a visually hidden checkbox, so its label is clicked). */
export async function clickConnect(page, id) {
  const toggle = page.getByRole('switch', { name: `Connect or disconnect "${id}"` });
  const inputID = await toggle.getAttribute('id');
  await page.locator(`label[for="${inputID}"]`).click();
}

/** Opens the Tools view and returns the tool names it lists. */
export async function listTools(page) {
  await page.locator('label', { hasText: /^Tools$/ }).click();
  const heading = page.getByText(/^Tools \(\d+\)$/);
  await heading.waitFor();
  const n = Number((await heading.innerText()).match(/\d+/)[0]);
  const items = page.locator('button[data-variant="listItem"]');
  await waitFor(`${n} tools in the list`, async () => (await items.count()) === n);
  const names = [];
  for (const item of await items.all()) {
    // Each item shows the title, then the name on its own line.
    names.push((await item.innerText()).split('\n').map((s) => s.trim()).filter(Boolean).at(-1));
  }
  return names.sort();
}

/**
 * Returns the aria-labels of the schema warning markers in the Tools list
 * (Inspector's "Schema portability" icons), one per flagged tool; [] when
 * no tool is flagged. Call after listTools.
 */
export async function schemaWarnings(page) {
  const items = page.locator('button[data-variant="listItem"]');
  return items.locator('[aria-label^="Schema portability"]').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
}

/** Selects a tool, fills its form fields and executes it; returns the text of the Results panel. */
export async function runTool(page, name, args) {
  await page.locator('button[data-variant="listItem"]', { hasText: name }).click();
  for (const [field, value] of Object.entries(args)) {
    await page.getByRole('textbox', { name: field }).fill(String(value));
  }
  await page.getByRole('button', { name: 'Execute Tool' }).click();
  // The innermost stack holding the "Close results" button is the panel.
  const panel = page.locator('.mantine-Stack-root', { has: page.getByRole('button', { name: 'Close results' }) }).last();
  const content = panel.locator('pre').first();
  await content.waitFor();
  return (await panel.locator('pre').allInnerTexts()).join('\n');
}
