// One usage event per authenticated request: collects what is known as the request proceeds and
// emits exactly once, whether the request ends in a response, an error or a client disconnect.

import { uuidv7 } from '../shared/ids.ts';
import type { KeyEntry, RouteEntry } from '../shared/manifest.ts';
import { MAX_EVENT_AUDIO_SECONDS, MAX_EVENT_COUNT, type UsageEvent } from '../shared/usage.ts';
import type { MeteredUsage } from './metering.ts';

export interface UsageRecorder {
  model(id: string): void;
  route(route: RouteEntry): void;
  /**
   * The request was admitted against allowance leases: its event names them, is dated at the
   * admission (the instant that picked its budget period), and `settle` hears the finished event.
   */
  admitted(admission: { atMs: number; leaseIds: string[]; settle: (event: UsageEvent) => void }): void;
  /**
   * Emits the event on the first call; every call returns the first call's promise, which settles
   * when the answer may end (a durable answer: once the event is stored, record-usage.ts).
   */
  finish(outcome: { status: number; usage?: MeteredUsage | null; estimate?: { input: number; output: number } }): Promise<void>;
  readonly finished: boolean;
  /** Settles when the event was emitted; the gate hands it to waitUntil (see gate.ts). */
  readonly done: Promise<void>;
}

export function createUsageRecorder(context: {
  key: KeyEntry;
  requestId: string;
  endpoint: string;
  startedMs: number;
  nowMs: () => number;
  /** Hands the event over; a promise returned holds the end of the answer until it settles. */
  emit: (event: UsageEvent) => Promise<void> | void;
  log?: (level: 'error', msg: string, fields: Record<string, string | number>) => void;
}): UsageRecorder {
  let model = '';
  let route: RouteEntry | null = null;
  let finished = false;
  let ending: Promise<void> | null = null;
  let admission: { atMs: number; leaseIds: string[]; settle: (event: UsageEvent) => void } | null = null;
  let markDone: () => void = () => {};
  const done = new Promise<void>((resolve) => (markDone = resolve));
  return {
    done,
    model(id) {
      model = id;
    },
    route(r) {
      route = r;
    },
    admitted(a) {
      admission = a;
    },
    get finished() {
      return finished;
    },
    finish(outcome) {
      if (finished) return ending ?? Promise.resolve();
      finished = true;
      const counts = outcome.usage ?? outcome.estimate ?? { input: 0, output: 0 };
      const reported = outcome.usage ?? null;
      // A supplier's report beyond what usage can store (no request is that large) is clamped
      // and flagged, not sent as is: the control plane would refuse the event and it would be lost.
      let clamped = false;
      const fit = (n: number, max = MAX_EVENT_COUNT): number => {
        if (n <= max) return n;
        clamped = true;
        return max;
      };
      const event: UsageEvent = {
        id: uuidv7(context.startedMs),
        request_id: context.requestId,
        key_id: context.key.id,
        org_id: context.key.org_id,
        user_id: context.key.owner_id,
        model: model || 'unknown',
        supplier_id: route?.supplier_id ?? null,
        region: route?.region ?? null,
        endpoint: context.endpoint,
        status: outcome.status,
        input_tokens: fit(counts.input),
        output_tokens: fit(counts.output),
        cached_input_tokens: fit(reported?.cachedInput ?? 0),
        cache_write_tokens: fit(reported?.cacheWrite ?? 0),
        reasoning_tokens: fit(reported?.reasoning ?? 0),
        estimated: outcome.usage ? outcome.usage.estimated === true : outcome.estimate !== undefined,
        audio_seconds: fit(outcome.usage?.audioSeconds ?? 0, MAX_EVENT_AUDIO_SECONDS),
        started_at: new Date(admission?.atMs ?? context.startedMs).toISOString(),
        latency_ms: fit(Math.max(0, Math.round(context.nowMs() - context.startedMs))),
        lease_ids: admission?.leaseIds ?? [],
      };
      if (clamped) {
        event.estimated = true;
        context.log?.('error', 'supplier reported usage beyond what an event can carry: clamped and flagged estimated', {
          request_id: event.request_id,
          supplier_id: event.supplier_id ?? '',
          model: event.model,
        });
      }
      const stored = context.emit(event);
      admission?.settle(event);
      markDone();
      ending = Promise.resolve(stored);
      return ending;
    },
  };
}
