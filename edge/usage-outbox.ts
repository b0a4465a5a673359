// Usage events leave the edge in batches: the first event of a batch schedules a delivery a few
// hundred milliseconds later (inside waitUntil), later events join it. Failed deliveries are kept
// and retried; ingestion is idempotent by event id, so a retry never double-bills.
// In memory and bounded for now; issue 5 makes the outbox durable across a restart.

import type { UsageEvent } from '../shared/usage.ts';
import { MAX_USAGE_BATCH } from '../shared/usage.ts';

export interface UsageOutbox {
  record(event: UsageEvent, waitUntil: (p: Promise<unknown>) => void): void;
  /** Deliver everything queued now (tests, shutdown). */
  flush(): Promise<void>;
  pending(): number;
}

export interface UsageOutboxOptions {
  /** POSTs one batch; throws when it was not accepted. */
  deliver: (events: UsageEvent[]) => Promise<void>;
  batchWindowMs: number;
  maxQueued: number;
  /** Injected so tests need not wait out the retry backoff. */
  sleep?: (ms: number) => Promise<void>;
  log?: (msg: string, fields?: Record<string, string | number>) => void;
}

const RETRIES_PER_FLUSH = 4;

export function createUsageOutbox(options: UsageOutboxOptions): UsageOutbox {
  const queue: UsageEvent[] = [];
  let scheduled = false;
  let delivering: Promise<void> | null = null;
  const log = options.log ?? (() => {});
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  async function deliverAll(): Promise<void> {
    let failures = 0;
    while (queue.length > 0) {
      const batch = queue.slice(0, MAX_USAGE_BATCH);
      try {
        await options.deliver(batch);
      } catch (err) {
        failures++;
        log('usage delivery failed', { queued: queue.length, failures, error: err instanceof Error ? err.message : String(err) });
        // A few quick retries inside this waitUntil; after that the next recorded event tries again.
        if (failures > RETRIES_PER_FLUSH) return;
        await sleep(250 * 2 ** failures);
        continue;
      }
      queue.splice(0, batch.length);
    }
  }

  function flush(): Promise<void> {
    delivering ??= deliverAll().finally(() => {
      delivering = null;
    });
    return delivering;
  }

  return {
    record(event, waitUntil) {
      if (queue.length >= options.maxQueued) {
        queue.shift();
        log('usage outbox full: dropped the oldest event', { max: options.maxQueued });
      }
      queue.push(event);
      if (scheduled || delivering) return;
      scheduled = true;
      waitUntil(
        new Promise((resolve) => setTimeout(resolve, options.batchWindowMs)).then(() => {
          scheduled = false;
          return flush();
        }),
      );
    },
    flush,
    pending: () => queue.length,
  };
}
