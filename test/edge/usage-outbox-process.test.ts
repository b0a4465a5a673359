// The usage outbox in a process of its own (plain workerd, scripts/workerd-config.ts): the outbox
// process's entrypoint hands every call to the node's one UsageOutboxObject, and the edge reaches
// it through a service binding that its outbox code sees as a namespace of that one object.
import { env, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { USAGE_OUTBOX_NAME, durableUsageOutbox } from '../../edge/usage-outbox.ts';
import { outboxServiceNamespace, usageOutbox } from '../../edge/usage-outbox-do.ts';
import { createTestEdge } from './support/test-edge.ts';
import { usageEvent } from './support/usage-events.ts';

const bindings = env as unknown as { USAGE_OUTBOX: DurableObjectNamespace };
const real = bindings.USAGE_OUTBOX;
const nodeObject = () => real.get(real.idFromName(USAGE_OUTBOX_NAME));

/** What the edge's USAGE_OUTBOX_SERVICE binding does: a request to the outbox process's entrypoint. */
function serviceBinding(calls: string[]): Fetcher {
  return {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init);
      calls.push(`${request.method} ${new URL(request.url).pathname}`);
      return usageOutbox.fetch(request, bindings);
    },
  } as Fetcher;
}

afterEach(async () => {
  await runInDurableObject(nodeObject(), (_i, state) => state.storage.deleteAlarm());
});

describe('usage outbox process', () => {
  it('stores what the edge records through the service binding in the node object', async () => {
    const calls: string[] = [];
    const outbox = durableUsageOutbox({ namespace: outboxServiceNamespace(serviceBinding(calls)), minAppendIntervalMs: 0, nowMs: () => Date.now(), log: () => {} });
    const held: Promise<unknown>[] = [];
    const outcomes = [outbox.record(usageEvent(), (p) => held.push(p)), outbox.record(usageEvent(), (p) => held.push(p))];
    while (held.length) await Promise.allSettled(held.splice(0));
    expect(await Promise.all(outcomes)).toEqual(['stored', 'stored']);
    // One turn, one append; the object is the one a node's outbox process holds.
    expect(calls).toEqual(['POST /append']);
    expect(await (await nodeObject().fetch('https://usage-outbox/status')).json()).toMatchObject({ pending: 2 });
  });

  it('holds only the node object: another name is a mistake, not a second outbox', () => {
    const namespace = outboxServiceNamespace(serviceBinding([]));
    expect(() => namespace.idFromName('someone-else')).toThrow(/holds only usage-outbox/);
  });

  it('is reachable for readiness while the process answers, and not once it does not', async () => {
    const outbox = (service: Fetcher) => durableUsageOutbox({ namespace: outboxServiceNamespace(service), nowMs: () => Date.now(), log: () => {} });
    const ignore = () => {};
    expect(await outbox(serviceBinding([])).reachable(ignore)).toBe(true);
    const down = { fetch: () => Promise.reject(new Error('connect ECONNREFUSED')) } as unknown as Fetcher;
    expect(await outbox(down).reachable(ignore)).toBe(false);
    const broken = { fetch: () => Promise.resolve(new Response('', { status: 500 })) } as unknown as Fetcher;
    expect(await outbox(broken).reachable(ignore)).toBe(false);
  });

  it('appends what it held while the process was down from the readiness check that finds it back', async () => {
    const pendingOf = async () => ((await (await nodeObject().fetch('https://usage-outbox/status')).json()) as { pending: number }).pending;
    const before = await pendingOf();
    let up = false;
    const calls: string[] = [];
    const live = serviceBinding(calls);
    const service = { fetch: (input: RequestInfo | URL, init?: RequestInit) => (up ? live.fetch(input, init) : Promise.reject(new Error('connect ECONNREFUSED'))) } as Fetcher;
    const outbox = durableUsageOutbox({ namespace: outboxServiceNamespace(service), minAppendIntervalMs: 0, nowMs: () => Date.now(), sleep: async () => {}, log: () => {} });
    const held: Promise<unknown>[] = [];
    const outcome = outbox.record(usageEvent(), (p) => held.push(p));
    // Every append attempt fails and the pump gives up: the event waits in memory, and a node
    // that is not ready gets no request that would start another.
    await held[0];
    expect(outbox.pending()).toBe(1);
    up = true;
    const started: Promise<unknown>[] = [];
    expect(await outbox.reachable((p) => started.push(p))).toBe(true);
    expect(started).toHaveLength(1);
    await Promise.all(started);
    expect(await outcome).toBe('stored');
    expect(calls).toEqual(['GET /status', 'POST /append']);
    expect(await pendingOf()).toBe(before + 1);
  });

  it('makes the node not ready while its outbox does not answer, in the JSON error shape', async () => {
    let up = true;
    const edge = await createTestEdge({ outboxReachable: async () => up });
    expect((await edge.send('/readyz')).status).toBe(200);
    up = false;
    const response = await edge.send('/readyz');
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: { code: 'usage_backlog', type: 'service_unavailable' } });
    // Liveness does not depend on it: the process itself is fine.
    expect((await edge.send('/healthz')).status).toBe(200);
  });

  it('answers 500 when its binding is missing, which the edge retries while holding the events', async () => {
    const response = await usageOutbox.fetch(new Request('https://usage-outbox/status'), {});
    expect(response.status).toBe(500);
  });
});
