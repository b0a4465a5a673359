// The gate every /v1 request passes: a usable manifest (else 503) and a valid key (else one
// 401). Nothing reaches a supplier without passing here.

import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../shared/errors.ts';
import type { EdgeDeps } from './app.ts';
import { authenticate } from './auth.ts';
import type { EdgeEnv } from './request-context.ts';

export function gate(deps: EdgeDeps): MiddlewareHandler<EdgeEnv> {
  return async (c, next) => {
    const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
    const manifest = await deps.manifest.current(waitUntil);
    if (!manifest) throw new ApiError('manifest_unavailable', 'The gateway is temporarily unable to verify API keys. Retry shortly.');
    const auth = await authenticate(c.req.raw.headers, manifest, Math.floor(deps.nowMs() / 1000));
    // One answer for a missing, malformed, unknown, revoked or expired key: a prober must not
    // learn which check failed.
    if (!auth.ok) throw new ApiError('invalid_api_key', 'Invalid API key. Check the key you sent, or create a new one.');
    c.set('manifest', manifest);
    c.set('key', auth.key);
    await next();
  };
}
