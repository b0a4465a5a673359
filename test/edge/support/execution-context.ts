// A Workers ExecutionContext for `app.request`: collects what the edge hands to waitUntil so a
// test can wait for background work (manifest refresh, usage delivery) to settle.

import type { ExecutionContext } from 'hono';

export interface TestExecutionContext {
  ctx: ExecutionContext;
  /** How many promises were handed to waitUntil so far. */
  waitUntilCount: () => number;
  /** Waits until every waitUntil promise, including ones added while waiting, has settled. */
  settle: () => Promise<void>;
}

export function createExecutionContext(): TestExecutionContext {
  const pending: Promise<unknown>[] = [];
  let count = 0;
  return {
    ctx: {
      waitUntil(promise) {
        count++;
        pending.push(promise);
      },
      passThroughOnException() {},
      props: {},
    },
    waitUntilCount: () => count,
    async settle() {
      while (pending.length > 0) await Promise.allSettled(pending.splice(0));
    },
  };
}
