// Middleware for inference routes: one usage recorder per request, after the gate. Whatever ends
// the request (a response, an error, a client disconnect) finishes it exactly once.

import type { MiddlewareHandler } from 'hono';
import type { EdgeDeps } from './app.ts';
import type { EdgeEnv } from './request-context.ts';
import { createUsageRecorder } from './usage-event.ts';

export function recordUsage(deps: EdgeDeps): MiddlewareHandler<EdgeEnv> {
  return async (c, next) => {
    const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
    const usage = createUsageRecorder({
      key: c.get('key'),
      requestId: c.get('requestId'),
      endpoint: c.req.path,
      startedMs: c.get('startedMs'),
      nowMs: deps.nowMs,
      emit: (event) => deps.outbox.record(event, waitUntil),
    });
    // Keeps the request alive until its usage event is out, also when the client disconnects
    // mid-stream: otherwise the runtime may end the request before the metering sees the cancel.
    waitUntil(usage.done);
    c.set('usage', usage);
    await next();
  };
}
