// The request side of the durable usage outbox on the real UsageOutboxObject (and, with a journal,
// the real disk service): many requests' waitUntil at once, the object's calls watched, and an
// outbox on an object of the test's own.

import { env, runInDurableObject } from 'cloudflare:test';
import { durableUsageOutbox, type OutboxNamespace, type OutboxState } from '../../../edge/usage-outbox.ts';
import type { UsageJournal } from '../../../edge/usage-journal.ts';
import { createClock } from './clock.ts';
import { deferred } from './deferred.ts';

export const real = (env as unknown as { USAGE_OUTBOX: DurableObjectNamespace }).USAGE_OUTBOX;

/** The waitUntil of many requests at once: how many promises were handed over, and waiting for them. */
export function requests() {
  const pending: Promise<unknown>[] = [];
  let count = 0;
  return {
    waitUntil: (p: Promise<unknown>) => {
      count++;
      pending.push(p);
    },
    count: () => count,
    settle: async () => {
      while (pending.length) await Promise.allSettled(pending.splice(0));
    },
  };
}

/** The real namespace, with every call to the object seen (and optionally held or failed) by the test. */
export function watched(options: { fail?: number; hold?: Promise<void> } = {}) {
  /** Events per append, and the journal files each append named for the outbox to delete. */
  const appends: number[] = [];
  const handed: string[][] = [];
  let failures = options.fail ?? 0;
  const firstCall = deferred<void>();
  const namespace: OutboxNamespace = {
    idFromName: (name) => real.idFromName(name),
    get: (id) => ({
      async fetch(input, init) {
        if (input.endsWith('/append')) {
          firstCall.resolve();
          if (options.hold) await options.hold;
          if (failures > 0) {
            failures--;
            return new Response('{}', { status: 500 });
          }
          const body = JSON.parse(init!.body as string) as unknown[] | { events: unknown[]; journal: string[] };
          appends.push(Array.isArray(body) ? body.length : body.events.length);
          handed.push(Array.isArray(body) ? [] : body.journal);
        }
        return real.get(id).fetch(input, init);
      },
    }),
  };
  return { namespace, appends, handed, firstCall: firstCall.promise };
}

export async function statusOf(name: string): Promise<OutboxState> {
  return (await real.get(real.idFromName(name)).fetch('https://usage-outbox/status')).json();
}

const used: string[] = [];

/** For afterEach: the objects' alarms (delivery, which has no control plane here) must not fire after the file ends. */
export async function stopAlarms(): Promise<void> {
  for (const name of used.splice(0)) await runInDurableObject(real.get(real.idFromName(name)), (_i, state) => state.storage.deleteAlarm());
}

export function outboxOn(namespace: OutboxNamespace, options: { name?: string; journal?: UsageJournal; sleep?: (ms: number) => Promise<void> } = {}) {
  const name = options.name ?? crypto.randomUUID();
  used.push(name);
  const clock = createClock();
  const logs: { level: string; msg: string; fields?: Record<string, string | number> }[] = [];
  const outbox = durableUsageOutbox({
    namespace,
    name,
    nowMs: clock.nowMs,
    sleep: options.sleep ?? (async () => {}),
    log: (level, msg, fields) => void logs.push({ level, msg, ...(fields ? { fields } : {}) }),
    ...(options.journal ? { journal: options.journal } : {}),
  });
  return { outbox, name, clock, logs };
}
