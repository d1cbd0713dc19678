// The MCP TypeScript SDK (v1) as an OAuth client, for the scenarios that use
// it: a loopback callback listener (RFC 8252 §7.3) and an OAuthClientProvider
// that plays the user's part in Chromium. With clientMetadataUrl set, the SDK
// uses that URL as its client_id (Client ID Metadata Document) instead of
// registering, when the authorization server advertises
// client_id_metadata_document_supported.

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { freePort, signInAndAllow } from './harness.mjs';

/**
 * The client's loopback redirect target: it answers the browser with a small
 * page and hands the query parameters to the test.
 */
export async function startCallbackServer() {
  const port = await freePort();
  const waiters = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, `http://127.0.0.1:${port}`);
    if (url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>Signed in</title><p id="done">You can close this window.</p>');
    waiters.shift()?.(url.searchParams);
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${port}/callback`,
    /** Resolves with the query of the next request to /callback. */
    next: () => new Promise((ok) => waiters.push(ok)),
    close: () => new Promise((ok) => server.close(ok)),
  };
}

/**
 * An OAuthClientProvider that keeps everything in memory and plays the
 * user's part in Chromium: redirectToAuthorization opens the authorization
 * URL, signs in, allows, and waits for the redirect to the callback server.
 * beforeAllow(page), if given, runs on the consent page before "Allow" is
 * clicked (to read or photograph it).
 */
export class ChromiumProvider {
  constructor({ browser, callback, clientMetadataUrl, clientName = 'tenantless e2e (TypeScript SDK)', beforeAllow }) {
    this.browser = browser;
    this.callback = callback;
    this.clientName = clientName;
    this.beforeAllow = beforeAllow;
    if (clientMetadataUrl) this.clientMetadataUrl = clientMetadataUrl;
    this.savedClient = undefined;
    this.savedTokens = undefined;
    this.verifier = undefined;
    this.lastState = undefined;
    /** Every authorization URL the SDK sent the user to. */
    this.authorizationURLs = [];
    /** The query of the last redirect to the callback. */
    this.callbackQuery = undefined;
    /** Every token set saved, in order. */
    this.tokenHistory = [];
  }

  get redirectUrl() {
    return this.callback.url;
  }

  get clientMetadata() {
    return {
      client_name: this.clientName,
      redirect_uris: [this.callback.url],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state() {
    this.lastState = randomBytes(32).toString('hex');
    return this.lastState;
  }

  clientInformation() {
    return this.savedClient;
  }

  saveClientInformation(info) {
    this.savedClient = info;
  }

  tokens() {
    return this.savedTokens;
  }

  saveTokens(tokens) {
    this.savedTokens = tokens;
    this.tokenHistory.push(tokens);
  }

  saveCodeVerifier(v) {
    this.verifier = v;
  }

  codeVerifier() {
    return this.verifier;
  }

  async redirectToAuthorization(url) {
    this.authorizationURLs.push(new URL(url));
    const redirected = this.callback.next();
    const page = await this.browser.newPage();
    await page.goto(url.toString());
    await signInAndAllow(page, { beforeAllow: this.beforeAllow });
    this.callbackQuery = await redirected;
    await page.locator('#done').waitFor();
    await page.close();
  }
}

/** A new SDK Client and a Streamable HTTP transport to url using provider. */
export function newSDKClient(url, provider, fetchFn) {
  return {
    client: new Client({ name: 'tenantless-e2e', version: '1.0.0' }),
    transport: new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, ...(fetchFn && { fetch: fetchFn }) }),
  };
}

/**
 * Runs the SDK's whole authorization flow against server (401, discovery,
 * DCR, sign-in and consent in browser, code exchange) and returns the
 * provider, which holds the client and its tokens.
 */
export async function authorizeWithSDK({ server, browser, callback, fetchFn }) {
  const provider = new ChromiumProvider({ browser, callback });
  const first = newSDKClient(server.mcpURL, provider, fetchFn);
  try {
    await first.client.connect(first.transport);
    throw new Error('connect without a token succeeded; expected 401 and UnauthorizedError');
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
  }
  await first.transport.finishAuth(provider.callbackQuery.get('code'));
  if (!provider.tokens()?.access_token) throw new Error('no access token after finishAuth');
  return provider;
}
