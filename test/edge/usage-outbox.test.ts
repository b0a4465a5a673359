// The usage outbox on its own: batching, keeping events across failed deliveries, the bound.
import { describe, expect, it } from 'vitest';
import type { UsageEvent } from '../../shared/usage.ts';
import { createUsageOutbox } from '../../edge/usage-outbox.ts';
import { usageEvent } from './support/usage-events.ts';


function collector() {
  const pending: Promise<unknown>[] = [];
  return { waitUntil: (p: Promise<unknown>) => void pending.push(p), settle: async () => { while (pending.length) await pending.shift(); } };
}

describe('usage outbox', () => {
  it('delivers events recorded within one window as one batch', async () => {
    const batches: UsageEvent[][] = [];
    const outbox = createUsageOutbox({ deliver: async (events) => void batches.push(events), batchWindowMs: 5, maxQueued: 100 });
    const ctx = collector();
    const events = [usageEvent(), usageEvent(), usageEvent()];
    for (const e of events) outbox.record(e, ctx.waitUntil);
    await ctx.settle();
    expect(batches).toHaveLength(1);
    expect(batches[0]!.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(outbox.pending()).toBe(0);
  });

  it('keeps events through failed deliveries and delivers each exactly once when the control plane is back', async () => {
    let down = true;
    const delivered: string[] = [];
    const sleeps: number[] = [];
    const outbox = createUsageOutbox({
      deliver: async (events) => {
        if (down) throw new Error('connection refused');
        delivered.push(...events.map((e) => e.id));
      },
      batchWindowMs: 1,
      maxQueued: 100,
      sleep: async (ms) => void sleeps.push(ms),
    });
    const ctx = collector();
    const first = usageEvent();
    outbox.record(first, ctx.waitUntil);
    await ctx.settle();
    expect(delivered).toEqual([]);
    expect(outbox.pending()).toBe(1);
    expect(sleeps.length).toBeGreaterThan(0);
    expect(sleeps).toEqual([...sleeps].sort((a, b) => a - b));

    down = false;
    const second = usageEvent();
    outbox.record(second, ctx.waitUntil);
    await ctx.settle();
    expect(delivered).toEqual([first.id, second.id]);
    expect(outbox.pending()).toBe(0);
  });

  it('drops the oldest event, not the newest, when the bound is reached', async () => {
    let down = true;
    const delivered: string[] = [];
    const outbox = createUsageOutbox({
      deliver: async (events) => {
        if (down) throw new Error('down');
        delivered.push(...events.map((e) => e.id));
      },
      batchWindowMs: 1,
      maxQueued: 2,
      sleep: async () => {},
    });
    const ctx = collector();
    const events = [usageEvent(), usageEvent(), usageEvent()];
    for (const e of events) outbox.record(e, ctx.waitUntil);
    expect(outbox.pending()).toBe(2);
    await ctx.settle();
    down = false;
    await outbox.flush();
    expect(delivered).toEqual([events[1]!.id, events[2]!.id]);
  });
});
