// Allowance leases on a real database: grants under concurrency never exceed what is free, money
// moves from a lease's hold to "spent" at ingestion exactly once, an unclosed lease releases its
// hold when it expires (a crash between reserve and settle), RPM counts across callers, and a
// request is counted in the budget period it was admitted in.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../shared/ids.ts';
import type { AcquireAnswer, AllowanceScope, Demand } from '../../shared/allowance.ts';
import type { UsageEvent } from '../../shared/usage.ts';
import { createAllowanceService, LEASE_HOLD_MS, type AllowanceService } from '../../control-plane/allowances.ts';
import { creditAdjustment } from '../../control-plane/ledger.ts';
import { silentLogger } from '../../control-plane/log.ts';
import { ingestUsage } from '../../control-plane/usage-ingest.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';

let h: Harness;
let nowMs = Date.now();
let service: AllowanceService;

beforeAll(async () => {
  h = await createHarness();
  service = createAllowanceService({ db: h.testDb.db, now: () => new Date(nowMs) });
  await h.testDb.db.query(`INSERT INTO models (id, owned_by) VALUES ('a-flat', 't')`);
  // 2 µUSD an input token, 8 an output token.
  await h.testDb.db.query(
    `INSERT INTO model_prices (model_id, effective_from, input_per_mtok, output_per_mtok) VALUES ('a-flat', '2020-01-01Z', 2000000, 8000000)`,
  );
}, 60_000);
afterAll(() => h?.close());

async function org(walletMicros = 0): Promise<string> {
  const res = await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: { name: 'allowances' } });
  const { id } = (await res.json()) as { id: string };
  if (walletMicros > 0) {
    await h.testDb.db.transaction((tx) => creditAdjustment(tx, { orgId: id, micros: walletMicros, actor: 'system', memo: 'test credit' }));
  }
  return id;
}

async function key(orgId: string, policy: Record<string, unknown> = {}): Promise<string> {
  const res = await h.request('POST', '/v1/manage/keys', { token: h.ownerToken, body: { org_id: orgId, name: 'k', ...policy } });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

const d = (need: number, demand = need, prefetch = 0): Demand => ({ need, demand, prefetch });
const none = d(0);

async function acquire(scope: AllowanceScope, money: Demand, extra: { requests?: Demand; tokens?: Demand; at?: number } = {}): Promise<AcquireAnswer> {
  const answer = await service.sync(h.nodeId, { at: extra.at ?? nowMs, acquire: [{ scope, money, requests: extra.requests ?? d(1), tokens: extra.tokens ?? none }] });
  return answer.acquired[0]!;
}

const granted = (a: AcquireAnswer) => (a.outcome === 'granted' ? a.lease : null);

function usage(orgId: string, keyId: string, overrides: Partial<UsageEvent>): UsageEvent {
  return {
    id: uuidv7(),
    request_id: `req_${uuidv7().replaceAll('-', '')}`,
    key_id: keyId,
    org_id: orgId,
    user_id: null,
    model: 'a-flat',
    supplier_id: 'fake',
    region: 'EU',
    endpoint: '/v1/chat/completions',
    status: 200,
    input_tokens: 100,
    output_tokens: 100, // 100 × 2 + 100 × 8 = 1,000 µUSD
    estimated: false,
    started_at: new Date(nowMs).toISOString(),
    latency_ms: 5,
    ...overrides,
  };
}

describe('allowance leases', () => {
  it('never grants more of a wallet than it holds, however many edges ask at once, and strands none of it', async () => {
    nowMs = Date.now();
    const orgId = await org(1_000_000);
    const answers = await Promise.all(Array.from({ length: 40 }, () => acquire({ kind: 'org', org_id: orgId }, d(30_000, 30_000, 240_000))));
    const money = answers.map((a) => granted(a)?.money ?? 0);
    const total = money.reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(1_000_000);
    expect(total).toBeGreaterThan(1_000_000 - 30_000);
    for (const a of answers) {
      if (a.outcome === 'granted') expect(a.lease.money).toBeGreaterThanOrEqual(30_000);
      else expect(a).toMatchObject({ reason: 'wallet' });
    }
    expect(answers.some((a) => a.outcome === 'denied')).toBe(true);
  });

  it('answers an empty wallet with a denial even for a free request', async () => {
    nowMs = Date.now();
    const orgId = await org(0);
    expect(await acquire({ kind: 'org', org_id: orgId }, none)).toMatchObject({ outcome: 'denied', reason: 'wallet', message: expect.stringMatching(/Top up/) });
  });

  it('moves money from a lease hold to spent at ingestion, counting it once', async () => {
    nowMs = Date.now();
    const orgId = await org(1_000_000);
    const keyId = await key(orgId, { budget_limit: 0.01, budget_period: 'monthly' }); // 10,000 µUSD
    const scope: AllowanceScope = { kind: 'key', key_id: keyId };
    const first = granted(await acquire(scope, d(4_000)))!;
    expect(first.money).toBe(4_000);
    expect(first.period_end).toBeGreaterThan(nowMs);

    // A 1,000 µUSD request under that lease is ingested: 1,000 spent + 3,000 still held = 4,000.
    await ingestUsage(h.testDb.db, h.nodeId, [usage(orgId, keyId, { lease_ids: [first.id] })], { log: silentLogger });
    expect(await acquire(scope, d(6_001))).toMatchObject({ outcome: 'denied', reason: 'key_budget' });
    const second = granted(await acquire(scope, d(6_000)))!;
    expect(second.money).toBe(6_000);

    // The first lease closes at its real usage: its 3,000 unused come back.
    await service.sync(h.nodeId, { at: nowMs, update: [{ lease_id: first.id, money_cap: 1_000, tokens_cap: 0, requests_used: 1, closed: true }] });
    expect(granted(await acquire(scope, d(3_000)))?.money).toBe(3_000);
    expect(await acquire(scope, d(1))).toMatchObject({ outcome: 'denied', reason: 'key_budget', message: expect.stringMatching(/monthly budget of \$0\.01 is spent/) });
    // A replayed event moves nothing a second time.
    const wallet = await h.testDb.db.query<{ balance_micros: string }>(`SELECT balance_micros::text FROM ledger_accounts WHERE id = $1`, [`wallet:${orgId}`]);
    expect(Number(wallet.rows[0]!.balance_micros)).toBe(999_000);
  });

  it("moves nothing out of another org's lease, and counts a lease named twice by one event once", async () => {
    nowMs = Date.now();
    const [orgA, orgB] = [await org(1_000_000), await org(10_000)];
    const [keyA, keyB] = [await key(orgA), await key(orgB)];
    const leaseB = granted(await acquire({ kind: 'org', org_id: orgB }, d(10_000)))!;
    expect(leaseB.money).toBe(10_000);
    // An event of org A names org B's lease (twice): B's wallet stays fully held.
    await ingestUsage(h.testDb.db, h.nodeId, [usage(orgA, keyA, { lease_ids: [leaseB.id, leaseB.id] })], { log: silentLogger });
    expect(await acquire({ kind: 'org', org_id: orgB }, d(1))).toMatchObject({ outcome: 'denied', reason: 'wallet' });
    // B's own event naming its lease twice moves its 1,000 µUSD once: 9,000 stay held, nothing is free.
    await ingestUsage(h.testDb.db, h.nodeId, [usage(orgB, keyB, { lease_ids: [leaseB.id, leaseB.id] })], { log: silentLogger });
    const lease = await h.testDb.db.query<{ ingested_micros: string }>('SELECT ingested_micros::text FROM allowance_leases WHERE id = $1', [leaseB.id]);
    expect(Number(lease.rows[0]!.ingested_micros)).toBe(1_000);
    expect(await acquire({ kind: 'org', org_id: orgB }, d(1))).toMatchObject({ outcome: 'denied', reason: 'wallet' });
  });

  it('releases the hold of a lease nobody closed once it expires (an edge died between reserve and settle)', async () => {
    nowMs = Date.now();
    const orgId = await org(100_000);
    const scope: AllowanceScope = { kind: 'org', org_id: orgId };
    expect(granted(await acquire(scope, d(100_000)))?.money).toBe(100_000);
    expect(await acquire(scope, d(1))).toMatchObject({ outcome: 'denied', reason: 'wallet' });
    nowMs += LEASE_HOLD_MS + 1;
    expect(granted(await acquire(scope, d(100_000)))?.money).toBe(100_000);
  });

  it('keeps holding a lease its edge extends while requests run, and releases it after the last extension', async () => {
    nowMs = Date.now();
    const orgId = await org(100_000);
    const scope: AllowanceScope = { kind: 'org', org_id: orgId };
    const lease = granted(await acquire(scope, d(100_000)))!;
    nowMs += LEASE_HOLD_MS - 5_000;
    expect((await service.sync(h.nodeId, { at: nowMs, extend: [lease.id] })).lost).toEqual([]);
    nowMs += 10_000; // past the first expiry, within the extension
    expect(await acquire(scope, d(1))).toMatchObject({ outcome: 'denied', reason: 'wallet' });
    nowMs += LEASE_HOLD_MS;
    expect(granted(await acquire(scope, d(100_000)))).not.toBeNull();
    // An expired lease cannot be brought back.
    expect((await service.sync(h.nodeId, { at: nowMs, extend: [lease.id] })).lost).toEqual([lease.id]);
  });

  it('counts RPM across every caller in the window and says when the window ends', async () => {
    nowMs = Date.now();
    const orgId = await org(1_000_000);
    const keyId = await key(orgId, { rate_limit_rpm: 10 });
    const scope: AllowanceScope = { kind: 'key', key_id: keyId };
    const answers = await Promise.all(Array.from({ length: 6 }, () => acquire(scope, none, { requests: d(1, 3, 8) })));
    const requests = answers.reduce((sum, a) => sum + (granted(a)?.requests ?? 0), 0);
    expect(requests).toBe(10);
    const denied = await acquire(scope, none);
    expect(denied).toMatchObject({ outcome: 'denied', reason: 'rpm', rate: { rpm: 10 } });
    const retryAfter = denied.outcome === 'denied' ? denied.retry_after_ms! : -1;
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60_000);
    // The next minute is a new window.
    expect(granted(await acquire(scope, none, { at: nowMs + retryAfter }))?.requests).toBeGreaterThan(0);
  });

  it('counts a request in the budget period it was admitted in, not the next', async () => {
    const day = Date.UTC(2026, 9, 20); // an October day: a past month, inside usage retention
    nowMs = day - 500; // 23:59:59.500 on 19 October
    const orgId = await org(1_000_000);
    const keyId = await key(orgId, { budget_limit: 0.0015, budget_period: 'daily' }); // 1,500 µUSD a day
    const scope: AllowanceScope = { kind: 'key', key_id: keyId };
    const lease = granted(await acquire(scope, d(1_000)))!;
    expect(lease.period_end).toBe(day);
    // Admitted at 23:59:59.900; its answer ends after midnight.
    await ingestUsage(h.testDb.db, h.nodeId, [usage(orgId, keyId, { started_at: new Date(day - 100).toISOString(), lease_ids: [lease.id], latency_ms: 3_000 })], {
      log: silentLogger,
    });
    await service.sync(h.nodeId, { at: nowMs, update: [{ lease_id: lease.id, money_cap: 1_000, tokens_cap: 0, requests_used: 1, closed: true }] });
    // 19 October has 500 left …
    expect(await acquire(scope, d(501))).toMatchObject({ outcome: 'denied', reason: 'key_budget' });
    // … and 20 October starts whole.
    nowMs = day + 1_000;
    expect(granted(await acquire(scope, d(1_500)))?.money).toBe(1_500);
  });

  it('denies a revoked key', async () => {
    nowMs = Date.now();
    const orgId = await org(1_000_000);
    const keyId = await key(orgId, { budget_limit: 1, budget_period: 'daily' });
    expect((await h.request('POST', `/v1/manage/keys/${keyId}/revoke`, { token: h.ownerToken })).status).toBe(200);
    expect(await acquire({ kind: 'key', key_id: keyId }, d(1))).toMatchObject({ outcome: 'denied', reason: 'inactive' });
  });

  it('refuses a malformed sync over HTTP with the documented error and without a node token', async () => {
    const unauthenticated = await h.request('POST', '/node/v1/allowances', { body: { at: Date.now() } });
    expect(unauthenticated.status).toBe(401);
    const bad = await h.request('POST', '/node/v1/allowances', {
      headers: { authorization: await h.nodeAuthorization() },
      body: { at: Date.now(), acquire: [{ scope: { kind: 'org', org_id: 'nope' }, money: d(1), requests: d(1), tokens: none }] },
    });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('validation_failed');
    // A request count beyond the integer column is the node's mistake (422), not a 500 it retries.
    const huge = await h.request('POST', '/node/v1/allowances', {
      headers: { authorization: await h.nodeAuthorization() },
      body: { at: Date.now(), update: [{ lease_id: uuidv7(), money_cap: 0, tokens_cap: 0, requests_used: 3_000_000_000, closed: true }] },
    });
    expect(huge.status).toBe(422);
  });
});
