// Browsers may call the API directly, as they may call OpenAI's and Anthropic's (apps where each
// user brings their own key). A preflight is answered here, before the gate: it carries no key,
// reaches no supplier and leaves no usage row. An answer to a request that names an Origin lets
// the page read it and the headers it needs (request id, rate limits). `*` without credentials
// is safe: the API authenticates by key, never by cookie, so a page can only use a key it holds.
// Requests without an Origin (servers, SDKs outside a browser) get no extra headers.

import type { MiddlewareHandler } from 'hono';

const EXPOSED = [
  'x-request-id',
  'x-taas-supplier',
  'x-taas-region',
  'retry-after',
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
].join(', ');

/** How long a browser may reuse a preflight's answer (a day; browsers cap it lower). */
const PREFLIGHT_MAX_AGE_SECONDS = 86_400;

export function browserAccess(): MiddlewareHandler {
  return async (c, next) => {
    if (!c.req.header('origin')) return next();
    if (c.req.method === 'OPTIONS') {
      const headers: Record<string, string> = {
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'GET, POST, OPTIONS',
        'access-control-max-age': String(PREFLIGHT_MAX_AGE_SECONDS),
        vary: 'access-control-request-headers',
      };
      // The SDKs send headers of their own (x-stainless-*, anthropic-*): whatever is asked for.
      const asked = c.req.header('access-control-request-headers');
      if (asked) headers['access-control-allow-headers'] = asked;
      return c.body(null, 204, headers);
    }
    c.header('access-control-allow-origin', '*');
    c.header('access-control-expose-headers', EXPOSED);
    await next();
  };
}
