// Preloaded (node --import) into the MCP conformance CLI for its server
// scenarios: the CLI has no option for an access token. Its requests go out
// two ways: the SDK client's fetch and its raw undici requests go through
// undici's global dispatcher, and http-header-validation's hand-made
// requests use node:http's http.request (the CLI's `import g from "http"`,
// `g.request({hostname, port, path, method, headers})`). This installs a
// global dispatcher and wraps http.request; both add
//   Authorization: Bearer $CONFORMANCE_BEARER_TOKEN
// to requests for $CONFORMANCE_BEARER_ORIGIN (the tenantless origin) that
// carry no Authorization header, and change nothing else: not the Host or
// Origin headers the DNS-rebinding scenario sets, not the Mcp-Method or
// Mcp-Name headers the header-validation scenario sets, not the body, not
// the target. Requests to any other origin are passed on untouched.

import http from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const token = process.env.CONFORMANCE_BEARER_TOKEN;
const origin = process.env.CONFORMANCE_BEARER_ORIGIN;
if (!token || !origin) {
  throw new Error('conformance-bearer.mjs: set CONFORMANCE_BEARER_TOKEN and CONFORMANCE_BEARER_ORIGIN');
}
const target = new URL(origin).origin;

// The undici the conformance CLI imports (its own copy, not Inspector's).
const here = dirname(fileURLToPath(import.meta.url));
const fromConformance = createRequire(join(here, 'node_modules', '@modelcontextprotocol', 'conformance', 'package.json'));
const { Agent, setGlobalDispatcher } = fromConformance('undici');

/** True when headers (an object, a flat [k, v, …] array, or an iterable of pairs) have an Authorization header. */
function hasAuthorization(headers) {
  if (!headers) return false;
  if (Array.isArray(headers)) {
    if (headers.length && Array.isArray(headers[0])) return headers.some(([k]) => String(k).toLowerCase() === 'authorization');
    for (let i = 0; i < headers.length; i += 2) if (String(headers[i]).toLowerCase() === 'authorization') return true;
    return false;
  }
  if (typeof headers[Symbol.iterator] === 'function') {
    for (const [k] of headers) if (String(k).toLowerCase() === 'authorization') return true;
    return false;
  }
  return Object.keys(headers).some((k) => k.toLowerCase() === 'authorization');
}

function withAuthorization(headers) {
  const value = `Bearer ${token}`;
  if (!headers) return { authorization: value };
  if (Array.isArray(headers)) {
    if (headers.length && Array.isArray(headers[0])) return [...headers, ['authorization', value]];
    return [...headers, 'authorization', value];
  }
  if (typeof headers[Symbol.iterator] === 'function') return [...headers, ['authorization', value]];
  return { ...headers, authorization: value };
}

let added = 0;
const bearer = (dispatch) => (opts, handler) => {
  if (new URL(opts.origin).origin === target && !hasAuthorization(opts.headers)) {
    added++;
    return dispatch({ ...opts, headers: withAuthorization(opts.headers) }, handler);
  }
  return dispatch(opts, handler);
};

setGlobalDispatcher(new Agent().compose(bearer));

// node:http: http.request(options[, callback]) with an options object (the
// only form the CLI uses). The URL and string forms are passed on untouched.
const httpRequest = http.request;
http.request = function request(options, ...rest) {
  if (options && typeof options === 'object' && !(options instanceof URL)) {
    const protocol = options.protocol || 'http:';
    const host = options.hostname || options.host || 'localhost';
    const port = options.port || (protocol === 'https:' ? 443 : 80);
    let origin;
    try {
      origin = new URL(`${protocol}//${host}:${port}`).origin;
    } catch {
      origin = null;
    }
    if (origin === target && !hasAuthorization(options.headers)) {
      added++;
      return httpRequest.call(this, { ...options, headers: withAuthorization(options.headers) }, ...rest);
    }
  }
  return httpRequest.call(this, options, ...rest);
};
process.on('exit', () => {
  if (process.env.CONFORMANCE_BEARER_DEBUG) console.error(`conformance-bearer: added the token to ${added} requests`);
});
