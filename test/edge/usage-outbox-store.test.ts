// The durable usage outbox inside a real Durable Object (SQLite storage in workerd): appending,
// batch delivery, backoff while the control plane is away, rejected and malformed events, the
// bound, and a new instance over the same storage (a restarted edge process).
import { abortAllDurableObjects, env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import { MAX_USAGE_BATCH, type UsageEvent } from '../../shared/usage.ts';
import { createOutboxStore, MAX_RETRY_MS, retryDelayMs, type OutboxStore, type OutboxStoreOptions } from '../../edge/usage-outbox-store.ts';
import { createClock, type TestClock } from './support/clock.ts';
import { usageEvent } from './support/usage-events.ts';

const namespace = (env as unknown as { USAGE_OUTBOX: DurableObjectNamespace }).USAGE_OUTBOX;


/**
 * The control plane's usage endpoint as the outbox sees it: idempotent by id like the real one,
 * remembering the exact bytes of each event it took, so a replay that differs is caught.
 */
function fakeControlPlane() {
  const taken = new Map<string, string>();
  const batches: string[][] = [];
  let ingestions = 0;
  let mode: 'up' | 'down' | 503 | 'answer-lost' = 'up';
  let refuseIds = new Set<string>();
  let rejectIds = new Set<string>();
  return {
    taken,
    batches,
    ingestions: () => ingestions,
    set: (next: typeof mode) => void (mode = next),
    refuse: (ids: string[]) => void (refuseIds = new Set(ids)),
    reject: (ids: string[]) => void (rejectIds = new Set(ids)),
    async post(body: string): Promise<Response> {
      if (mode === 'down') throw new TypeError('connect ECONNREFUSED 127.0.0.1:7301');
      if (mode === 503) return new Response('{"error":{}}', { status: 503 });
      const events = (JSON.parse(body) as { events: UsageEvent[] }).events;
      batches.push(events.map((e) => e.id));
      if (events.some((e) => refuseIds.has(e.id))) return new Response('{"error":{}}', { status: 422 });
      for (const e of events) {
        const bytes = JSON.stringify(e);
        if (taken.has(e.id)) expect(taken.get(e.id), 'a replay must be byte-identical').toBe(bytes);
        else if (!rejectIds.has(e.id)) taken.set(e.id, bytes);
      }
      ingestions++;
      if (mode === 'answer-lost') throw new TypeError('socket hang up'); // ingested, but the edge never hears it
      return Response.json({ accepted: events.length, duplicates: 0, rejected: events.filter((e) => rejectIds.has(e.id)).map((e) => e.id) });
    },
  };
}

type Logged = { level: string; msg: string; fields?: Record<string, string | number> };

function harness(overrides: Partial<OutboxStoreOptions> = {}) {
  const clock: TestClock = createClock(); // 2031: alarms it sets never fire during the test
  const cp = fakeControlPlane();
  const logs: Logged[] = [];
  const id = namespace.idFromName(crypto.randomUUID());
  /** Runs `fn` with a store over the object's storage; each call is a fresh store instance. */
  const withStore = <R>(fn: (store: OutboxStore, storage: DurableObjectStorage) => Promise<R>) =>
    // A fresh stub each time: abortAllDurableObjects() breaks the old ones.
    runInDurableObject(namespace.get(id), (_instance, state) =>
      fn(
        createOutboxStore({
          storage: state.storage,
          maxEvents: 1000,
          post: (body) => cp.post(body),
          nowMs: clock.nowMs,
          random: () => 0.5,
          log: (level, msg, fields) => void logs.push({ level, msg, ...(fields ? { fields } : {}) }),
          ...overrides,
        }),
        state.storage,
      ),
    );
  return { clock, cp, logs, withStore };
}

describe('durable usage outbox store', () => {
  it('stores appended events once by id, counts them, and schedules a delivery', async () => {
    const { clock, withStore } = harness();
    const events = [usageEvent(), usageEvent(), usageEvent()];
    await withStore(async (store, storage) => {
      expect(await store.append(events)).toMatchObject({ stored: 3, refused: [], pending: 3, full: false });
      // A retried append (an answer lost on the way back) stores nothing twice.
      expect(await store.append([events[0]!, events[1]!])).toMatchObject({ stored: 0, pending: 3 });
      expect(await storage.getAlarm()).toBe(clock.nowMs() + 100);
    });
  });

  it('delivers oldest first in batches of at most MAX_USAGE_BATCH and deletes only what was taken', async () => {
    const { cp, withStore } = harness({ maxEvents: 5000 });
    const events = Array.from({ length: 2500 }, () => usageEvent());
    await withStore(async (store) => {
      for (let i = 0; i < events.length; i += 500) await store.append(events.slice(i, i + 500));
      expect(await store.deliver()).toMatchObject({ outcome: 'drained', delivered: 2500, dropped: 0, pending: 0 });
    });
    expect(cp.batches.map((b) => b.length)).toEqual([MAX_USAGE_BATCH, MAX_USAGE_BATCH, 500]);
    expect(cp.batches.flat()).toEqual(events.map((e) => e.id));
  });

  it('keeps every event while the control plane is unreachable or answers 503, backing off up to 60 s, then delivers each once', async () => {
    const { clock, cp, logs, withStore } = harness();
    const events = [usageEvent(), usageEvent()];
    const delays: number[] = [];
    await withStore(async (store, storage) => {
      await store.append(events);
      for (const mode of ['down', 503, 'down', 503, 'down', 503, 'down', 503] as const) {
        cp.set(mode);
        expect(await store.deliver()).toMatchObject({ outcome: 'retrying', pending: 2 });
        delays.push((await storage.getAlarm())! - clock.nowMs());
      }
      cp.set('up');
      expect(await store.deliver()).toMatchObject({ outcome: 'drained', delivered: 2, pending: 0 });
    });
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
    expect([...cp.taken.keys()]).toEqual(events.map((e) => e.id));
    expect(logs.filter((l) => l.msg.startsWith('usage delivery failed'))).toHaveLength(8);
  });

  it('jitters the backoff by at most 20 % and never waits longer than 60 s', () => {
    expect(retryDelayMs(1, () => 0)).toBe(800);
    expect(retryDelayMs(1, () => 1)).toBe(1200);
    expect(retryDelayMs(40, () => 1)).toBe(MAX_RETRY_MS);
  });

  it('replays an event byte-identical after an answer was lost, and the control plane counts it once', async () => {
    const { cp, withStore } = harness();
    const events = [usageEvent(), usageEvent(), usageEvent()];
    await withStore(async (store) => {
      await store.append(events);
      // Taken by the control plane each time, but the edge never hears it (one to five replays).
      cp.set('answer-lost');
      for (let replay = 0; replay < 5; replay++) expect((await store.deliver()).pending).toBe(3);
      cp.set('up');
      expect((await store.deliver()).pending).toBe(0);
    });
    expect(cp.ingestions()).toBe(6);
    expect(cp.taken.size).toBe(3);
  });

  it('drops events the control plane rejects, logging their metadata only', async () => {
    const { cp, logs, withStore } = harness();
    const [good, bad] = [usageEvent(), usageEvent()];
    cp.reject([bad!.id]);
    await withStore(async (store) => {
      await store.append([good!, bad!]);
      expect(await store.deliver()).toMatchObject({ outcome: 'drained', delivered: 1, dropped: 1, pending: 0 });
    });
    const dropped = logs.filter((l) => l.msg.includes('rejected'));
    expect(dropped).toEqual([
      { level: 'error', msg: 'usage event rejected by the control plane: dropped', fields: { id: bad!.id, request_id: bad!.request_id, key_id: bad!.key_id, org_id: bad!.org_id } },
    ]);
  });

  it('splits a refused batch until the malformed event is alone, drops it loudly and delivers the rest', async () => {
    const { cp, logs, withStore } = harness();
    const events = Array.from({ length: 40 }, () => usageEvent());
    cp.refuse([events[27]!.id]);
    await withStore(async (store) => {
      await store.append(events);
      let report = await store.deliver();
      while (report.outcome === 'more') report = await store.deliver();
      expect(report).toMatchObject({ outcome: 'drained', pending: 0 });
    });
    expect([...cp.taken.keys()].sort()).toEqual(events.filter((_, i) => i !== 27).map((e) => e.id).sort());
    expect(logs.filter((l) => l.level === 'error').map((l) => l.fields?.id)).toEqual([events[27]!.id]);
  });

  it('says full 1 % below its bound, refuses events only at the bound, and takes them again once delivered', async () => {
    const { cp, withStore } = harness({ maxEvents: 200 });
    cp.set('down');
    await withStore(async (store) => {
      expect(await store.append(Array.from({ length: 197 }, () => usageEvent()))).toMatchObject({ pending: 197, full: false });
      expect(await store.append([usageEvent()])).toMatchObject({ pending: 198, full: true });
      const over = [usageEvent(), usageEvent(), usageEvent()];
      const answer = await store.append(over);
      expect(answer).toMatchObject({ stored: 2, pending: 200, full: true });
      expect(answer.refused).toEqual([over[2]!.id]);
      expect(await store.status()).toEqual({ pending: 200, max: 200, full: true });

      cp.set('up');
      expect(await store.deliver()).toMatchObject({ outcome: 'drained', pending: 0, full: false });
      expect(await store.append([over[2]!])).toMatchObject({ stored: 1, refused: [] });
    });
  });

  it('a new instance over the same storage (a restarted process) finds and delivers what the old one held', async () => {
    const { cp, withStore } = harness();
    const events = Array.from({ length: 30 }, () => usageEvent());
    cp.set('down');
    await withStore(async (store) => {
      await store.append(events);
      await store.deliver();
    });
    await abortAllDurableObjects();
    cp.set('up');
    await withStore(async (store) => {
      expect(await store.status()).toMatchObject({ pending: 30 });
      expect(await store.deliver()).toMatchObject({ outcome: 'drained', delivered: 30, pending: 0 });
    });
    expect([...cp.taken.keys()]).toEqual(events.map((e) => e.id));
  });
});

describe('UsageOutboxObject (the Durable Object class)', () => {

  it('keeps events through its alarm when the node cannot deliver, and a new instance still holds them', async () => {
    const id = namespace.idFromName(crypto.randomUUID());
    // A fresh stub each time: abortAllDurableObjects() breaks the old ones.
    const call = async (path: string, init?: RequestInit) => (await namespace.get(id).fetch(`https://usage-outbox${path}`, init)).json();
    const alarmOf = () => runInDurableObject(namespace.get(id), (_i, state) => state.storage.getAlarm());
    const events = [usageEvent(), usageEvent()];
    expect(await call('/append', { method: 'POST', body: JSON.stringify(events) })).toMatchObject({ stored: 2, pending: 2 });
    expect(await alarmOf()).not.toBeNull();

    // The test bindings hold no node identity: delivery fails like an unreachable control plane.
    // The alarm is due in 100 ms: run it now, unless it already ran by itself.
    await runDurableObjectAlarm(namespace.get(id));
    await vi.waitFor(async () => expect((await alarmOf())! - Date.now()).toBeGreaterThan(500));
    expect(await call('/status')).toMatchObject({ pending: 2, full: false, max: 1_000_000 });

    await abortAllDurableObjects();
    expect(await call('/status')).toMatchObject({ pending: 2 });
    expect(await alarmOf()).not.toBeNull();
    await runInDurableObject(namespace.get(id), (_i, state) => state.storage.deleteAlarm());
  });

  it('answers 404 for anything else', async () => {
    const stub = namespace.get(namespace.idFromName(crypto.randomUUID()));
    const response = await stub.fetch('https://usage-outbox/events', { method: 'DELETE' });
    expect(response.status).toBe(404);
  });
});
