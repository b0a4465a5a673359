// Usage ingestion on a real database (migration 0011): pricing at ingest with the version in force,
// monthly partitions, the daily rollup and the wallet debit in one transaction, and idempotency
// under replays in any order and under concurrent overlapping deliveries.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../shared/ids.ts';
import type { UsageEvent } from '../../shared/usage.ts';
import type { Queryable } from '../../control-plane/db.ts';
import { openDatabase } from '../../control-plane/db.ts';
import type { LogFields, Logger } from '../../control-plane/log.ts';
import { ensureUsagePartition } from '../../control-plane/sql/usage.ts';
import { ingestUsage } from '../../control-plane/usage-ingest.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';
import { postgresAvailable } from '../support/db.ts';

const FEB = '2026-02-10T12:00:00.000Z';

/** mulberry32: a seeded generator, so a failing order can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function chunks<T>(items: readonly T[], random: () => number, max: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; ) {
    const size = 1 + Math.floor(random() * max);
    out.push(items.slice(i, i + size));
    i += size;
  }
  return out;
}

async function seedPrices(db: Queryable): Promise<void> {
  await db.query(`INSERT INTO models (id, owned_by) VALUES ('u-flat', 't'), ('u-tier', 't'), ('u-audio', 't'), ('u-late', 't'), ('u-none', 't')`);
  await db.query(
    `INSERT INTO model_prices (model_id, effective_from, input_per_mtok, output_per_mtok, cached_input_per_mtok, cache_write_per_mtok, per_second, tiers) VALUES
       ('u-flat', '2020-01-01Z', 1000000, 4000000, 100000, 1250000, NULL, '[]'),
       ('u-flat', '2026-03-01Z', 2000000, 8000000, NULL, NULL, NULL, '[]'),
       ('u-tier', '2020-01-01Z', 1000000, 2000000, NULL, NULL, NULL,
        '[{"min_input_tokens": 100, "input_per_mtok": 2000000, "output_per_mtok": 4000000},
          {"min_input_tokens": 1000, "input_per_mtok": 3000000, "output_per_mtok": 6000000, "cached_input_per_mtok": 500000}]'),
       ('u-audio', '2020-01-01Z', 0, 0, NULL, NULL, 400, '[]'),
       ('u-late', '2030-01-01Z', 1000000, 1000000, NULL, NULL, NULL, '[]')`,
  );
}

interface Tenant {
  orgId: string;
  keys: string[];
}

let h: Harness;
let logs: { level: string; msg: string; fields: LogFields }[] = [];
const log: Logger = (level, msg, fields = {}) => void logs.push({ level, msg, fields });

beforeAll(async () => {
  h = await createHarness();
  await seedPrices(h.testDb.db);
}, 60_000);
afterAll(() => h?.close());

async function tenant(keys = 2): Promise<Tenant> {
  const org = (await (await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: { name: 'usage' } })).json()) as { id: string };
  const member = await h.addUser({ orgId: org.id, orgRole: 'user' });
  const ids: string[] = [];
  for (let i = 0; i < keys; i++) {
    const body = { org_id: org.id, name: `k${i}`, ...(i === 0 ? { owner_user_id: member.userId } : {}) };
    ids.push(((await (await h.request('POST', '/v1/manage/keys', { token: h.ownerToken, body })).json()) as { id: string }).id);
  }
  return { orgId: org.id, keys: ids };
}

function event(t: Tenant, overrides: Partial<UsageEvent> = {}): UsageEvent {
  return {
    id: uuidv7(),
    request_id: `req_${uuidv7().replaceAll('-', '')}`,
    key_id: t.keys[0]!,
    org_id: t.orgId,
    user_id: null,
    model: 'u-flat',
    supplier_id: 'fake',
    region: 'EU',
    endpoint: '/v1/chat/completions',
    status: 200,
    input_tokens: 1000,
    output_tokens: 500,
    estimated: false,
    started_at: FEB,
    latency_ms: 12,
    ...overrides,
  };
}

const ingest = (events: UsageEvent[]) => ingestUsage(h.testDb.db, h.nodeId, events, { log });

async function costs(ids: string[]): Promise<Record<string, { cost: number; unpriced: boolean }>> {
  const { rows } = await h.testDb.db.query<{ id: string; cost: string; unpriced: boolean }>(
    'SELECT id, cost_micros::text AS cost, unpriced FROM usage_events WHERE id = ANY($1::uuid[])',
    [ids],
  );
  return Object.fromEntries(rows.map((r) => [r.id, { cost: Number(r.cost), unpriced: r.unpriced }]));
}

async function walletMicros(orgId: string): Promise<number> {
  const { rows } = await h.testDb.db.query<{ b: string }>("SELECT balance_micros::text AS b FROM ledger_accounts WHERE id = 'wallet:' || $1", [orgId]);
  return Number(rows[0]!.b);
}

/** Everything ingestion writes for these orgs, in a stable order, without the write timestamps. */
async function snapshot(orgIds: string[]) {
  const db = h.testDb.db;
  const rows = await db.query(
    `SELECT id, request_id, key_id, org_id, user_id, node_id, model, supplier_id, region, endpoint, status, input_tokens,
            output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, audio_seconds::text, estimated, unpriced,
            cost_micros::text, latency_ms, started_at, tableoid::regclass::text AS partition
       FROM usage_events WHERE org_id = ANY($1::uuid[]) ORDER BY id`,
    [orgIds],
  );
  const daily = await db.query(
    `SELECT day::text, org_id, key_id, user_id, model, supplier_id, region, requests::text, errors::text, input_tokens::text,
            output_tokens::text, cached_input_tokens::text, cache_write_tokens::text, reasoning_tokens::text, audio_seconds::text,
            cost_micros::text, estimated_requests::text, unpriced_requests::text
       FROM usage_daily WHERE org_id = ANY($1::uuid[]) ORDER BY org_id, day, key_id, model, user_id, supplier_id, region`,
    [orgIds],
  );
  const wallets = await Promise.all(orgIds.map(walletMicros));
  const postings = await db.query('SELECT count(*)::int AS n FROM ledger_transactions WHERE org_id = ANY($1::uuid[])', [orgIds]);
  return { rows: rows.rows, daily: daily.rows, wallets, postings: postings.rows[0]!.n as number };
}

/** The rollup recomputed from the raw rows: what usage_daily must always equal. */
async function rollupFromRaw(orgIds: string[]) {
  const { rows } = await h.testDb.db.query(
    `SELECT (started_at AT TIME ZONE 'UTC')::date::text AS day, org_id, key_id, user_id, model, supplier_id, region,
            count(*)::text AS requests, count(*) FILTER (WHERE status NOT BETWEEN 200 AND 299)::text AS errors,
            sum(input_tokens)::text AS input_tokens, sum(output_tokens)::text AS output_tokens,
            sum(cached_input_tokens)::text AS cached_input_tokens, sum(cache_write_tokens)::text AS cache_write_tokens,
            sum(reasoning_tokens)::text AS reasoning_tokens, sum(audio_seconds)::numeric(16, 3)::text AS audio_seconds,
            sum(cost_micros)::text AS cost_micros, count(*) FILTER (WHERE estimated)::text AS estimated_requests,
            count(*) FILTER (WHERE unpriced)::text AS unpriced_requests
       FROM usage_events WHERE org_id = ANY($1::uuid[])
      GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY org_id, day, key_id, model, user_id, supplier_id, region`,
    [orgIds],
  );
  return rows;
}

/** A mixed batch: several keys, models, days around a month end and a price change, failures, cache counts. */
function mixedBatch(tenants: Tenant[], n: number, random: () => number): UsageEvent[] {
  const models = ['u-flat', 'u-tier', 'u-audio', 'u-none'];
  const days = ['2026-02-27T23:59:59.999Z', '2026-02-28T10:00:00.000Z', '2026-03-01T00:00:00.000Z', '2026-03-02T08:30:00.000Z'];
  return Array.from({ length: n }, () => {
    const t = tenants[Math.floor(random() * tenants.length)]!;
    const input = Math.floor(random() * 5000);
    const cached = Math.floor(random() * input);
    const output = Math.floor(random() * 2000);
    return event(t, {
      key_id: t.keys[Math.floor(random() * t.keys.length)]!,
      model: models[Math.floor(random() * models.length)]!,
      started_at: days[Math.floor(random() * days.length)]!,
      status: random() < 0.15 ? 502 : 200,
      estimated: random() < 0.1,
      region: random() < 0.2 ? null : 'EU',
      supplier_id: random() < 0.2 ? null : 'fake',
      input_tokens: input,
      cached_input_tokens: cached,
      cache_write_tokens: Math.floor(random() * (input - cached)),
      output_tokens: output,
      reasoning_tokens: Math.floor(random() * output),
      audio_seconds: Math.floor(random() * 100_000) / 1000,
    });
  });
}

describe('pricing at ingest', () => {
  it('prices every dimension with the version in force at the request start', async () => {
    const t = await tenant();
    const cached = { input_tokens: 1000, cached_input_tokens: 300, cache_write_tokens: 100, output_tokens: 500, reasoning_tokens: 200 };
    const events = {
      flatFeb: event(t, { ...cached, started_at: '2026-02-28T23:59:59.999Z' }),
      // The March version has no cache prices: reads and writes cost its input price.
      flatMar: event(t, { ...cached, started_at: '2026-03-01T00:00:00.000Z' }),
      tierTop: event(t, { model: 'u-tier', input_tokens: 1500, cached_input_tokens: 1000, output_tokens: 10 }),
      tierLow: event(t, { model: 'u-tier', input_tokens: 500, output_tokens: 10 }),
      tierBase: event(t, { model: 'u-tier', input_tokens: 99, output_tokens: 10 }),
      audio: event(t, { model: 'u-audio', input_tokens: 0, output_tokens: 0, audio_seconds: 2.5, endpoint: '/v1/audio/speech' }),
      failed: event(t, { ...cached, status: 502 }),
    };
    expect(await ingest(Object.values(events))).toEqual({ accepted: 7, duplicates: 0, rejected: [] });
    const got = await costs(Object.values(events).map((e) => e.id));
    const cost = (e: UsageEvent) => got[e.id]!.cost;
    expect(cost(events.flatFeb)).toBe(600 + 30 + 125 + 2000); // plain $1, cached $0.10, write $1.25, output $4 per 1M
    expect(cost(events.flatMar)).toBe(2000 + 4000);
    expect(cost(events.tierTop)).toBe(1500 + 500 + 60); // tier ≥1000: plain $3, its own cached $0.50, output $6
    expect(cost(events.tierLow)).toBe(1000 + 40); // tier ≥100
    expect(cost(events.tierBase)).toBe(99 + 20);
    expect(cost(events.audio)).toBe(1000); // 2.5 s × 400 µUSD/s
    expect(cost(events.failed)).toBe(0);
    expect(Object.values(got).every((c) => !c.unpriced)).toBe(true);

    const stored = await h.testDb.db.query(
      'SELECT cached_input_tokens, cache_write_tokens, reasoning_tokens, audio_seconds::text FROM usage_events WHERE id = ANY($1::uuid[]) ORDER BY audio_seconds, id',
      [[events.flatFeb.id, events.audio.id]],
    );
    expect(stored.rows).toEqual([
      { cached_input_tokens: 300, cache_write_tokens: 100, reasoning_tokens: 200, audio_seconds: '0.000' },
      { cached_input_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0, audio_seconds: '2.500' },
    ]);
  });

  it('stores a successful request with no price in force at 0, flagged unpriced, and logs metadata only', async () => {
    const t = await tenant();
    logs = [];
    const early = event(t, { model: 'u-late' }); // its only version starts in 2030
    const none = event(t, { model: 'u-none' });
    const none2 = event(t, { model: 'u-none' });
    const failedNone = event(t, { model: 'u-none', status: 500 });
    await ingest([early, none, none2, failedNone]);
    const got = await costs([early.id, none.id, none2.id, failedNone.id]);
    expect(got[early.id]).toEqual({ cost: 0, unpriced: true });
    expect(got[none.id]).toEqual({ cost: 0, unpriced: true });
    expect(got[failedNone.id]).toEqual({ cost: 0, unpriced: false });
    const warned = logs.filter((l) => l.msg.includes('unpriced'));
    expect(warned.map((l) => [l.level, l.fields.model, l.fields.events]).sort()).toEqual([['warn', 'u-late', 1], ['warn', 'u-none', 2]]);
    expect(Object.keys(warned[0]!.fields).sort()).toEqual(['events', 'first_event_id', 'first_started_at', 'model', 'node_id']);

    // A replay is not stored again, so it is not logged again either.
    logs = [];
    await ingest([none]);
    expect(logs).toEqual([]);
    const daily = await h.testDb.db.query("SELECT unpriced_requests::int AS n FROM usage_daily WHERE org_id = $1 AND model = 'u-none'", [t.orgId]);
    expect(daily.rows).toEqual([{ n: 2 }]);
  });
});

describe('storage', () => {
  it('keeps the daily rollup equal to the raw rows, by UTC day, with null groups kept together', async () => {
    const [a, b] = [await tenant(), await tenant()];
    const batch = mixedBatch([a, b], 400, rng(7));
    for (const part of chunks(batch, rng(8), 150)) await ingest(part);
    const raw = await rollupFromRaw([a.orgId, b.orgId]);
    expect((await snapshot([a.orgId, b.orgId])).daily).toEqual(raw);
    expect(raw.some((r) => r.region === null && r.supplier_id === null)).toBe(true);
    // 23:59:59.999 on Feb 27 is Feb 27 in UTC, whatever the session time zone.
    expect(raw.map((r) => r.day).sort()[0]).toBe('2026-02-27');
  });

  it('debits each org by the sum of its new rows, in one usage posting per org and ingest', async () => {
    const [a, b] = [await tenant(), await tenant()];
    const [wa, wb] = [await walletMicros(a.orgId), await walletMicros(b.orgId)];
    const batch = [event(a), event(a, { model: 'u-tier', input_tokens: 500, output_tokens: 10 }), event(b), event(b, { status: 429 })];
    await ingest(batch);
    expect(await walletMicros(a.orgId)).toBe(wa - 3000 - 1040); // 1000 in × $1 + 500 out × $4; the tier-100 one
    expect(await walletMicros(b.orgId)).toBe(wb - 3000); // the 429 is free
    const postings = await h.testDb.db.query<{ org_id: string; actor: string; kind: string }>(
      'SELECT org_id, actor, kind FROM ledger_transactions WHERE org_id = ANY($1::uuid[]) ORDER BY org_id',
      [[a.orgId, b.orgId]],
    );
    expect(postings.rows).toEqual(
      [a.orgId, b.orgId].sort().map((org_id) => ({ org_id, actor: `usage:${h.nodeId}`, kind: 'usage' })),
    );
  });

  it('puts each UTC month in its own partition, and an event far outside the retention window in the default one until its month is made', async () => {
    const t = await tenant();
    const jan = event(t, { started_at: '2026-01-31T23:59:59.999Z' });
    const feb = event(t, { started_at: '2026-02-01T00:00:00.000Z' });
    const ancient = event(t, { started_at: '2001-05-05T05:05:05.000Z' });
    await ingest([jan, feb, ancient]);
    const where = async () =>
      Object.fromEntries(
        (await h.testDb.db.query<{ id: string; p: string }>('SELECT id, tableoid::regclass::text AS p FROM usage_events WHERE org_id = $1', [t.orgId])).rows.map((r) => [r.id, r.p]),
      );
    expect(await where()).toEqual({ [jan.id]: 'usage_events_2026_01', [feb.id]: 'usage_events_2026_02', [ancient.id]: 'usage_events_default' });
    await ensureUsagePartition(h.testDb.db, '2001-05-01');
    expect((await where())[ancient.id]).toBe('usage_events_2001_05');
    // Replaying it now still finds it (its key is (id, started_at), wherever it lives).
    expect(await ingest([ancient])).toEqual({ accepted: 0, duplicates: 1, rejected: [] });
  });

  it('writes nothing at all when any step of the ingest transaction fails', async () => {
    const t = await tenant();
    const before = await snapshot([t.orgId]);
    const db = h.testDb.db;
    await db.query(`CREATE FUNCTION usage_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'rollup refused'; END $$`);
    await db.query('CREATE TRIGGER usage_test_fail BEFORE INSERT ON usage_daily FOR EACH ROW EXECUTE FUNCTION usage_test_fail()');
    try {
      await expect(ingest([event(t), event(t)])).rejects.toThrow(/rollup refused/);
    } finally {
      await db.query('DROP TRIGGER usage_test_fail ON usage_daily');
      await db.query('DROP FUNCTION usage_test_fail()');
    }
    expect(await snapshot([t.orgId])).toEqual(before);
  });
});

describe('idempotency', () => {
  it.each([1, 2, 3, 4, 5])('a batch replayed in shuffled, overlapping chunks gives the same rows, rollups and balances (seed %i)', async (seed) => {
    const random = rng(seed * 7919);
    const tenants = [await tenant(), await tenant(3)];
    const orgIds = tenants.map((t) => t.orgId);
    const walletsBefore = await Promise.all(orgIds.map(walletMicros));
    const batch = mixedBatch(tenants, 300, random);
    // An id twice within one delivery is one event too.
    await ingest([...batch.slice(0, 50), batch[0]!]);
    for (const part of chunks(shuffled(batch, random), random, 120)) await ingest(part);
    const once = await snapshot(orgIds);
    expect(once.rows).toHaveLength(300);
    expect(once.daily).toEqual(await rollupFromRaw(orgIds));
    const spent = orgIds.map((org) => once.rows.filter((r) => r.org_id === org).reduce((sum, r) => sum + Number(r.cost_micros), 0));
    expect(once.wallets).toEqual(walletsBefore.map((w, i) => w - spent[i]!));

    const replays = 1 + Math.floor(random() * 5);
    let duplicates = 0;
    for (let r = 0; r < replays; r++) {
      for (const part of chunks(shuffled(batch, random), random, 200)) duplicates += (await ingest(part)).duplicates;
    }
    expect(duplicates).toBe(300 * replays);
    const again = await snapshot(orgIds);
    expect(again).toEqual(once);
    expect(again.wallets.map((w, i) => w - once.wallets[i]!)).toEqual(orgIds.map(() => 0));
  });

  it('keeps the wallet equal to the rows when an id comes back with another start (a second row, so a second debit)', async () => {
    const t = await tenant(1);
    const before = await walletMicros(t.orgId);
    const first = event(t);
    await ingest([first]);
    // Rows are unique by (id, started_at): the same id a millisecond later is a row of its own.
    await ingest([{ ...first, started_at: '2026-02-10T12:00:00.001Z' }]);
    const after = await snapshot([t.orgId]);
    expect(after.rows).toHaveLength(2);
    expect(after.daily).toEqual(await rollupFromRaw([t.orgId]));
    const spent = after.rows.reduce((sum, r) => sum + Number(r.cost_micros), 0);
    expect(spent).toBeGreaterThan(0);
    expect(after.wallets).toEqual([before - spent]);
  });

  it.skipIf(!postgresAvailable())('concurrent ingests of overlapping batches neither deadlock nor count twice', async () => {
    const random = rng(424242);
    const tenants = [await tenant(3), await tenant(3)];
    const orgIds = tenants.map((t) => t.orgId);
    const walletsBefore = await Promise.all(orgIds.map(walletMicros));
    const batch = mixedBatch(tenants, 1200, random);
    // Eight posters at once, each with an overlapping share of the batch in its own order.
    for (let round = 0; round < 3; round++) {
      const posters = Array.from({ length: 8 }, () => chunks(shuffled(batch.filter(() => random() < 0.6), random), random, 400));
      await Promise.all(posters.map(async (deliveries) => {
        for (const part of deliveries) await ingest(part);
      }));
    }
    await ingest(batch); // whatever no poster happened to carry
    const after = await snapshot(orgIds);
    expect(after.rows).toHaveLength(1200);
    expect(after.daily).toEqual(await rollupFromRaw(orgIds));
    const spent = orgIds.map((org) => after.rows.filter((r) => r.org_id === org).reduce((sum, r) => sum + Number(r.cost_micros), 0));
    expect(after.wallets).toEqual(walletsBefore.map((w, i) => w - spent[i]!));
  }, 120_000);
});

describe.skipIf(!postgresAvailable())('as the application role', () => {
  it('creates partitions through the definer function, and may append usage but not rewrite it', async () => {
    const login = 'taas_gateway_test';
    await h.testDb.db.query(`DO $$ BEGIN
        CREATE ROLE ${login} LOGIN IN ROLE taas_app;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`);
    const url = new URL(h.testDb.url!);
    url.username = login;
    const app = await openDatabase({ url: url.toString(), maxConnections: 2 });
    try {
      const t = await tenant();
      const e = event(t, { started_at: '2025-07-04T00:00:00.000Z' });
      expect(await ingestUsage(app, h.nodeId, [e], { log })).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
      const row = await app.query('SELECT tableoid::regclass::text AS p FROM usage_events WHERE id = $1', [e.id]);
      expect(row.rows[0]!.p).toBe('usage_events_2025_07');
      await expect(app.query('UPDATE usage_events SET cost_micros = 0')).rejects.toThrow(/permission denied/);
      await expect(app.query('DELETE FROM usage_events_2025_07')).rejects.toThrow(/permission denied/);
      await expect(app.query('DELETE FROM usage_daily')).rejects.toThrow(/permission denied/);
      await expect(app.query('CREATE TABLE usage_events_2099_01 PARTITION OF usage_events FOR VALUES FROM (\'2099-01-01\') TO (\'2099-02-01\')')).rejects.toThrow(/permission denied|must be owner/);
    } finally {
      await app.close();
    }
  });
});

describe('on PGlite', () => {
  it('ingests, partitions, rolls up and debits the same way', async () => {
    const p = await createHarness('pglite');
    try {
      await seedPrices(p.testDb.db);
      const org = (await (await p.request('POST', '/v1/manage/orgs', { token: p.ownerToken, body: { name: 'lite' } })).json()) as { id: string };
      const key = (await (await p.request('POST', '/v1/manage/keys', { token: p.ownerToken, body: { org_id: org.id, name: 'k' } })).json()) as { id: string };
      const t = { orgId: org.id, keys: [key.id] };
      const batch = [event(t), event(t, { started_at: '2026-03-01T00:00:00.000Z' }), event(t, { model: 'u-none' }), event(t, { status: 503 })];
      expect(await ingestUsage(p.testDb.db, p.nodeId, batch, { log })).toEqual({ accepted: 4, duplicates: 0, rejected: [] });
      expect(await ingestUsage(p.testDb.db, p.nodeId, [...batch].reverse(), { log })).toEqual({ accepted: 0, duplicates: 4, rejected: [] });
      const daily = await p.testDb.db.query<{ day: string; requests: string; errors: string; cost: string; unpriced: string }>(
        `SELECT day::text, sum(requests)::text AS requests, sum(errors)::text AS errors, sum(cost_micros)::text AS cost,
                sum(unpriced_requests)::text AS unpriced FROM usage_daily WHERE org_id = $1 GROUP BY day ORDER BY day`,
        [org.id],
      );
      expect(daily.rows).toEqual([
        { day: '2026-02-10', requests: '3', errors: '1', cost: '3000', unpriced: '1' },
        { day: '2026-03-01', requests: '1', errors: '0', cost: '6000', unpriced: '0' },
      ]);
      const wallet = await p.testDb.db.query<{ b: string }>("SELECT balance_micros::text AS b FROM ledger_accounts WHERE id = 'wallet:' || $1", [org.id]);
      expect(Number(wallet.rows[0]!.b)).toBe(-(3000 + 6000));
      // The usage API's queries (row-wise cursors, "C" collation) run there too.
      const query = `/v1/manage/usage?org_id=${org.id}&from=2026-02-01&to=2026-03-31&group_by=model,region&limit=2`;
      const first = (await (await p.request('GET', query, { token: p.ownerToken })).json()) as { data: { day: string; model: string }[]; next_cursor: string };
      const second = (await (await p.request('GET', `${query}&after=${first.next_cursor}`, { token: p.ownerToken })).json()) as typeof first;
      expect([...first.data, ...second.data].map((b) => [b.day, b.model])).toEqual([['2026-02-10', 'u-flat'], ['2026-02-10', 'u-none'], ['2026-03-01', 'u-flat']]);
    } finally {
      await p.close();
    }
  }, 60_000);
});
