// Where the control plane lets provider credentials travel: supplier base URLs (the edge sends the
// supplier's key there) and OAuth token endpoints (the refresher sends the refresh token there).
// HTTPS only (PRODUCT.md §6: TLS everywhere), because a bearer secret over plain HTTP is readable
// by anyone on the path. The one exception is loopback (127.0.0.1, ::1, localhost): that traffic
// never leaves the machine, and it is how local development, the demo supplier and the tests reach
// a supplier or token server on the same host.

import { z } from 'zod';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

function problem(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
    return 'must be https:// (http:// only for 127.0.0.1, [::1] or localhost)';
  }
  // Credentials in a URL end up in logs; a query or fragment would break the paths appended to it.
  if (url.username || url.password) return 'must not contain a user name or password';
  if (url.search || url.hash || raw.includes('#') || raw.includes('?')) return 'must not have a query or fragment';
  return null;
}

export const OutboundUrl = z
  .string()
  .max(2048)
  .superRefine((value, ctx) => {
    const message = problem(value);
    if (message) ctx.addIssue({ code: 'custom', message });
  });
