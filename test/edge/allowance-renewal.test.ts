// Leases are renewed in the background while they still have room for a burst: steady concurrent
// traffic, or the backlog of a moment in which the edge's thread was busy, is admitted from the
// lease without waiting on the control plane. A scarce scope is still asked at most once a second.
// Requests that wait for a lease are never left waiting on a round that broke or never came back.

import { describe, expect, it } from 'vitest';
import { createAllowances, type Reservation } from '../../edge/allowances.ts';
import type { AllowanceScope } from '../../shared/allowance.ts';
import { createFakeAllowances } from './support/fake-allowances.ts';

const ORG = '0c6f4a4e-6d1f-4c59-9a43-2f1d7f6d8a10';
const scopes: AllowanceScope[] = [{ kind: 'org', org_id: ORG }];
const WORST = { money: 1_000, tokens: 0 };
const noop = (): void => {};
/** Lets background syncs (a timer turn, then the fake control plane) run. */
const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

function setup() {
  let now = 1_800_000_000_000;
  const clock = { nowMs: () => now, advance: (ms: number) => (now += ms) };
  const grants = createFakeAllowances({ nowMs: clock.nowMs });
  const allowances = createAllowances({ sync: grants.sync, nowMs: clock.nowMs });
  /** Renewals ahead of need: acquisitions with no waiting demand. */
  const renewals = () => grants.calls.flatMap((c) => c.acquire ?? []).filter((a) => a.money.demand === 0).length;
  const waited = () => grants.calls.flatMap((c) => c.acquire ?? []).filter((a) => a.money.demand > 0).length;
  return { clock, grants, allowances, renewals, waited };
}

describe('lease renewal ahead of a burst', () => {
  it('keeps 12 requests in flight for 300 requests with only the very first waiting on the control plane', async () => {
    const { allowances, clock, renewals, waited } = setup();
    const inFlight: Reservation[] = [await allowances.admit(scopes, WORST, noop)];
    let waitedAfterFirst = 0;
    for (let i = 0; i < 300; i++) {
      const admitted = allowances.admit(scopes, WORST, noop);
      if (admitted instanceof Promise) waitedAfterFirst += 1;
      inFlight.push(await admitted);
      // Each answer costs most of its worst case, so leases run out and must be replaced.
      if (inFlight.length > 12) inFlight.shift()!.settle({ money: 900, tokens: 0 });
      if (i % 4 === 0) await turn();
      clock.advance(5);
    }
    for (const r of inFlight) r.settle({ money: 900, tokens: 0 });
    expect(waitedAfterFirst).toBe(0);
    expect(waited()).toBe(1);
    // ~270,000 µUSD spent through leases of ~33,000: several renewals, none of them in a request's way.
    expect(renewals()).toBeGreaterThanOrEqual(5);
  });

  it('admits a burst of 16 arriving together after steady traffic without waiting', async () => {
    const { allowances, clock, waited } = setup();
    for (let i = 0; i < 40; i++) {
      (await allowances.admit(scopes, WORST, noop)).settle({ money: 900, tokens: 0 });
      await turn();
      clock.advance(5);
    }
    const burst = Array.from({ length: 16 }, () => allowances.admit(scopes, WORST, noop));
    expect(burst.filter((r) => r instanceof Promise)).toHaveLength(0);
    for (const r of await Promise.all(burst)) r.settle({ money: 900, tokens: 0 });
    expect(waited()).toBe(1);
  });

  it('asks a scope that grants only small slices for a renewal at most once a second', async () => {
    const { allowances, clock, grants, renewals } = setup();
    // 100 worst cases in the wallet: each grant is an eighth of what is free, less than two bursts.
    grants.setWallet(ORG, 100_000);
    for (let i = 0; i < 50; i++) {
      (await allowances.admit(scopes, WORST, noop)).settle({ money: 500, tokens: 0 });
      await turn();
      clock.advance(10);
    }
    // 500 ms of traffic spending ~25,000 through leases of ~10,000: one renewal, then none for a second.
    expect(renewals()).toBe(1);
    await allowances.flush();
  });
});

describe('requests waiting for a lease', () => {
  it('are answered 503 when a sync round fails in an unexpected way, and the next request starts a new round', async () => {
    let now = 1_800_000_000_000;
    const grants = createFakeAllowances({ nowMs: () => now });
    let broken = true;
    const logs: string[] = [];
    const allowances = createAllowances({
      // An answer that passed validation but breaks the round (a defect): it throws inside it.
      sync: async (body) => (broken ? ({} as Awaited<ReturnType<typeof grants.sync>>) : grants.sync(body)),
      nowMs: () => now,
      log: (_level, msg) => logs.push(msg),
    });
    const waiting = [allowances.admit(scopes, WORST, noop), allowances.admit(scopes, WORST, noop)];
    const outcomes = await Promise.race([
      Promise.allSettled(waiting),
      new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), 200)),
    ]);
    expect(outcomes).not.toBe('still waiting');
    for (const outcome of outcomes as PromiseSettledResult<Reservation>[]) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'allowance_unavailable' });
    }
    expect(logs).toContain('allowance round failed');

    broken = false;
    now += 10;
    (await allowances.admit(scopes, WORST, noop)).settle({ money: 500, tokens: 0 });
    await allowances.flush();
  });

  it('are admitted by a new round when theirs has not come back in 15 s, so admission does not stop for good', async () => {
    let now = 1_800_000_000_000;
    const grants = createFakeAllowances({ nowMs: () => now });
    let calls = 0;
    const logs: string[] = [];
    const allowances = createAllowances({
      // The first call never settles, as when the runtime drops the request context it ran in.
      sync: (body) => (++calls === 1 ? new Promise<never>(() => {}) : grants.sync(body)),
      nowMs: () => now,
      log: (_level, msg) => logs.push(msg),
    });
    const first = allowances.admit(scopes, WORST, noop) as Promise<Reservation>;
    await turn();
    now += 5_000;
    // Still within the bound: joins the run in progress.
    const second = allowances.admit(scopes, WORST, noop) as Promise<Reservation>;
    await turn();
    expect(calls).toBe(1);
    now += 10_000;
    const third = allowances.admit(scopes, WORST, noop) as Promise<Reservation>;
    // Every request that waited, also those that joined the lost run, is admitted by the new one.
    for (const reservation of await Promise.all([first, second, third])) reservation.settle({ money: 500, tokens: 0 });
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(logs).toContain('allowance sync round stalled: starting another');
  });
});

describe('leases of long requests', () => {
  it('asks again for an extension that failed at the next call, not a whole interval later', async () => {
    const { allowances, clock, grants } = setup();
    const running = await allowances.admit(scopes, WORST, noop);
    const extensionsSince = (call: number) => grants.calls.slice(call).flatMap((c) => c.extend ?? []);
    clock.advance(10_000);
    grants.goDown();
    const failed = grants.calls.length;
    await allowances.flush();
    expect(extensionsSince(failed)).toHaveLength(1); // asked for, and the call failed
    grants.goUp();
    clock.advance(1_000);
    // Any call one second later carries it again: the control plane still holds the lease.
    const next = grants.calls.length;
    await allowances.flush();
    expect(extensionsSince(next)).toEqual([running.leaseIds[0]]);
    running.settle({ money: 900, tokens: 0 });
  });
});
