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
    const durableAnswers = deps.durableAnswers !== false;
    /** The event is on disk (or the outbox gave up waiting): an answer made after that needs no hold. */
    let stored = false;
    const usage = createUsageRecorder({
      key: c.get('key'),
      requestId: c.get('requestId'),
      endpoint: c.req.path,
      startedMs: c.get('startedMs'),
      nowMs: deps.nowMs,
      log: deps.log,
      emit: (event) => {
        const outcome = deps.outbox.record(event, waitUntil);
        const done = () => {
          stored = true;
        };
        // The outbox bounds the wait (an unreachable store answers 'held'); a failure must not
        // break an answer that is otherwise complete.
        if (durableAnswers) return outcome.then(done, done);
      },
    });
    // Keeps the request alive until its usage event is out, also when the client disconnects
    // mid-stream: otherwise the runtime may end the request before the metering sees the cancel.
    waitUntil(usage.done);
    c.set('usage', usage);
    await next();
    // A metered answer (inference.ts) holds its own end until the promise of `finish` settles
    // (metering.ts), with no stream added, or was made once it settled (an answer read whole,
    // meter-json.ts). An answer whose event was finished before its body existed (an error, an
    // answer made here) and is not stored yet has its end held by one pass-through stream.
    const body = c.res.body;
    if (!body || !durableAnswers || !usage.finished || stored) return;
    const ending = usage.finish({ status: c.res.status }); // already finished: the promise of that first call
    c.res = new Response(body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ flush: () => ending })), c.res);
  };
}
