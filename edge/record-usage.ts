// Middleware for inference routes: one usage recorder per request, after the gate. Whatever ends
// the request (a response, an error, a client disconnect) finishes it exactly once.
//
// The last bytes of an answer wait until its usage event is on the node's disk (the durable
// outbox), so a client that received a whole answer was billed even if the process dies right
// after: nothing before the first byte waits, the end waits for one append (a few ms at most).

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
      emit: (event) => {
        durable = deps.outbox.record(event, waitUntil);
      },
    });
    let durable: Promise<unknown> = Promise.resolve();
    // Keeps the request alive until its usage event is out, also when the client disconnects
    // mid-stream: otherwise the runtime may end the request before the metering sees the cancel.
    waitUntil(usage.done);
    c.set('usage', usage);
    await next();
    const body = c.res.body;
    if (!body || deps.durableAnswers === false) return;
    c.res = new Response(
      body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          // By the time the body ends the metering has finished the event (meter() finishes right
          // after closing); a body that ends otherwise (an error answer) has finished it before.
          // The outbox bounds the wait (an unreachable store answers 'held'); a failure must not
          // break an answer that is otherwise complete.
          flush: async () => {
            if (usage.finished) await durable.catch(() => {});
          },
        }),
      ),
      c.res,
    );
  };
}
