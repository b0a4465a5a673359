// The request path's side of the durable usage outbox: each recorded event reaches the node's
// UsageOutboxObject before the isolate may go idle, concurrent events share one append, failures
// keep events in memory and retry, and refusals at the bound are loud.
import { afterEach, describe, expect, it } from 'vitest';
import type { OutboxNamespace, OutboxState } from '../../edge/usage-outbox.ts';
import type { AppendAnswer } from '../../edge/usage-outbox-store.ts';
import { deferred } from './support/deferred.ts';
import { outboxOn, real, requests, statusOf, stopAlarms, watched } from './support/outbox.ts';
import { usageEvent } from './support/usage-events.ts';

afterEach(stopAlarms);

describe('durable usage outbox (request side)', () => {
  it('has the event stored in the node object by the time the waitUntil of its request settles', async () => {
    const { outbox, name } = outboxOn(real);
    const ctx = requests();
    const outcome = outbox.record(usageEvent(), ctx.waitUntil);
    await ctx.settle();
    expect(await outcome).toBe('stored');
    expect(await statusOf(name)).toEqual({ pending: 1, max: 1_000_000, full: false });
    expect(outbox.pending()).toBe(1);
    expect(await outbox.state()).toEqual({ pending: 1, max: 1_000_000, full: false });
  });

  it('puts events recorded in one turn into one append, and events recorded while an append is out into the next', async () => {
    const hold = deferred<void>();
    const { namespace, appends, firstCall } = watched({ hold: hold.promise });
    const { outbox, name } = outboxOn(namespace);
    const ctx = requests();

    const outcomes = [outbox.record(usageEvent(), ctx.waitUntil)];
    await firstCall;
    for (let i = 0; i < 10; i++) outcomes.push(outbox.record(usageEvent(), ctx.waitUntil));
    hold.resolve();
    await ctx.settle();
    for (let i = 0; i < 30; i++) outcomes.push(outbox.record(usageEvent(), ctx.waitUntil));
    await ctx.settle();

    expect(appends).toEqual([1, 10, 30]);
    expect(await Promise.all(outcomes)).toEqual(Array(41).fill('stored'));
    // Each request waits for its own event; the two that found no append running also run one.
    expect(ctx.count()).toBe(41 + 2);
    expect((await statusOf(name)).pending).toBe(41);
  });

  it('hands the appending over to a newer request after a second, so no request is kept alive long', async () => {
    const hold = deferred<void>();
    const { namespace, appends, firstCall } = watched({ hold: hold.promise });
    const { outbox, clock, name } = outboxOn(namespace);
    const ctx = requests();
    outbox.record(usageEvent(), ctx.waitUntil);
    await firstCall;
    outbox.record(usageEvent(), ctx.waitUntil);
    clock.advance(1500);
    outbox.record(usageEvent(), ctx.waitUntil);
    expect(ctx.count()).toBe(3 + 2);
    hold.resolve();
    await ctx.settle();
    expect(appends.reduce((a, b) => a + b, 0)).toBe(3);
    expect((await statusOf(name)).pending).toBe(3);
  });

  it('keeps events in memory while the object fails, retries, and stores each once it answers', async () => {
    const { namespace, appends } = watched({ fail: 2 });
    const { outbox, name, logs } = outboxOn(namespace);
    const ctx = requests();
    outbox.record(usageEvent(), ctx.waitUntil);
    outbox.record(usageEvent(), ctx.waitUntil);
    await ctx.settle();
    expect(appends).toEqual([2]);
    expect(logs.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(['usage outbox did not take events: held in memory', 'usage outbox did not take events: held in memory']);
    expect((await statusOf(name)).pending).toBe(2);
    expect(outbox.pending()).toBe(2);
  });

  it('logs each event the object refuses at its bound (metadata only) and reports full until the object drains', async () => {
    let answer: AppendAnswer | OutboxState = { stored: 0, refused: [], pending: 999, max: 1000, full: true };
    const statusCalls: string[] = [];
    const fake: OutboxNamespace = {
      idFromName: (name) => real.idFromName(name),
      get: () => ({
        async fetch(input) {
          statusCalls.push(input);
          return Response.json(answer);
        },
      }),
    };
    const { outbox, clock, logs } = outboxOn(fake);
    const ctx = requests();
    const refused = usageEvent();
    answer = { stored: 0, refused: [refused.id], pending: 1000, max: 1000, full: true };
    expect(await outbox.record(refused, ctx.waitUntil)).toBe('refused');
    await ctx.settle();
    expect(logs).toEqual([
      { level: 'error', msg: 'usage outbox full: event refused, it cannot be billed', fields: { id: refused.id, request_id: refused.request_id, key_id: refused.key_id, org_id: refused.org_id } },
    ]);
    expect(await outbox.state()).toEqual({ pending: 1000, max: 1000, full: true });
    expect(statusCalls).toHaveLength(1); // fresh: no re-read

    answer = { pending: 10, max: 1000, full: false };
    clock.advance(1000);
    expect(await outbox.state()).toEqual({ pending: 10, max: 1000, full: false });
    expect(statusCalls.at(-1)).toBe('https://usage-outbox/status');
  });

  it('flush waits until every recorded event is stored', async () => {
    const { outbox, name } = outboxOn(real);
    const ctx = requests();
    for (let i = 0; i < 5; i++) outbox.record(usageEvent(), ctx.waitUntil);
    await outbox.flush();
    expect((await statusOf(name)).pending).toBe(5);
    await ctx.settle();
  });
});
