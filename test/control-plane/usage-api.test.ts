// The usage API (/v1/manage/usage) on a real database: daily buckets grouped and filtered, cursor
// pages, CSV export, monthly summaries, one request by id; who sees what; bad filters refused.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../shared/ids.ts';
import type { UsageEvent } from '../../shared/usage.ts';
import { silentLogger } from '../../control-plane/log.ts';
import { ingestUsage } from '../../control-plane/usage-ingest.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';

type Bucket = Record<string, string | number | null>;
type List = { object: 'list'; data: Bucket[]; next_cursor: string | null };

let h: Harness;
let orgA: string;
let orgB: string;
let owner: string;
let admin: string;
let member: { userId: string; token: string };
let other: { userId: string; token: string };
let outsider: string;
let keys: { member: string; other: string; unowned: string; foreign: string };
const requests: Record<string, string> = {};

const DAY1 = '2026-01-30';
const DAY2 = '2026-01-31';
const DAY3 = '2026-02-01';

async function post<T>(path: string, body: unknown, token = h.ownerToken): Promise<T> {
  const res = await h.request('POST', path, { token, body });
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

function event(orgId: string, keyId: string, day: string, overrides: Partial<UsageEvent> = {}): UsageEvent {
  const requestId = `req_${uuidv7().replaceAll('-', '')}`;
  return {
    id: uuidv7(),
    request_id: requestId,
    key_id: keyId,
    org_id: orgId,
    user_id: null,
    model: 'api-a',
    supplier_id: 'sup-1',
    region: 'EU',
    endpoint: '/v1/chat/completions',
    status: 200,
    input_tokens: 1000,
    output_tokens: 100,
    estimated: false,
    started_at: `${day}T12:00:00.000Z`,
    latency_ms: 5,
    ...overrides,
  };
}

beforeAll(async () => {
  h = await createHarness();
  await h.testDb.db.query("INSERT INTO models (id, owned_by) VALUES ('api-a', 't'), ('api-b', 't')");
  // api-a: $1 in / $0.10 cached / $2 out per 1M → 1000 in + 100 out = 1200 µUSD. api-b: $3 / $5 → 3500 µUSD.
  await h.testDb.db.query(
    `INSERT INTO model_prices (model_id, effective_from, input_per_mtok, output_per_mtok, cached_input_per_mtok)
     VALUES ('api-a', '2020-01-01Z', 1000000, 2000000, 100000), ('api-b', '2020-01-01Z', 3000000, 5000000, NULL)`,
  );
  orgA = (await post<{ id: string }>('/v1/manage/orgs', { name: 'Usage A' })).id;
  orgB = (await post<{ id: string }>('/v1/manage/orgs', { name: 'Usage B' })).id;
  owner = (await h.addUser({ orgId: orgA, orgRole: 'org_owner' })).token;
  admin = (await h.addUser({ orgId: orgA, orgRole: 'org_admin' })).token;
  member = await h.addUser({ orgId: orgA, orgRole: 'user' });
  other = await h.addUser({ orgId: orgA, orgRole: 'user' });
  outsider = (await h.addUser({ orgId: orgB, orgRole: 'org_owner' })).token;
  const key = async (org: string, owner?: string) => (await post<{ id: string }>('/v1/manage/keys', { org_id: org, name: 'k', ...(owner ? { owner_user_id: owner } : {}) })).id;
  keys = { member: await key(orgA, member.userId), other: await key(orgA, other.userId), unowned: await key(orgA), foreign: await key(orgB) };

  const events = [
    // member's key: 2 × api-a on DAY1 (one failed), 1 × api-b on DAY2 in US via sup-2
    event(orgA, keys.member, DAY1),
    event(orgA, keys.member, DAY1, { status: 500 }),
    event(orgA, keys.member, DAY2, { model: 'api-b', region: 'US', supplier_id: 'sup-2' }),
    // other member's key: api-a on DAY2 and DAY3, estimated, with cache and reasoning counts
    event(orgA, keys.other, DAY2, { estimated: true, cached_input_tokens: 400, reasoning_tokens: 30 }),
    event(orgA, keys.other, DAY3),
    // a key without an owner: DAY3, no supplier or region recorded
    event(orgA, keys.unowned, DAY3, { supplier_id: null, region: null }),
    // another tenant
    event(orgB, keys.foreign, DAY1),
  ];
  await ingestUsage(h.testDb.db, h.nodeId, events, { log: silentLogger });
  requests.member = events[0]!.request_id;
  requests.other = events[3]!.request_id;
  requests.foreign = events[6]!.request_id;
}, 60_000);
afterAll(() => h?.close());

async function get(path: string, token = h.ownerToken) {
  return h.request('GET', path, { token });
}

async function list(path: string, token = h.ownerToken): Promise<List> {
  const res = await get(path, token);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as List;
}

const range = `from=${DAY1}&to=${DAY3}`;

describe('daily usage', () => {
  it('answers one bucket per UTC day by default, with exact micros and USD', async () => {
    const page = await list(`/v1/manage/usage?org_id=${orgA}&${range}`);
    expect(page.next_cursor).toBeNull();
    expect(page.data.map((b) => [b.day, b.requests, b.errors, b.cost_micros, b.cost])).toEqual([
      [DAY1, 2, 1, 1200, 0.0012], // the failed request is counted but free
      [DAY2, 2, 0, 3500 + 1200 - 360, 0.00434], // 400 of the 1000 input tokens were cache reads at $0.10
      [DAY3, 2, 0, 2400, 0.0024],
    ]);
    expect(page.data[1]).toMatchObject({
      object: 'usage_bucket',
      input_tokens: 2000,
      output_tokens: 200,
      cached_input_tokens: 400,
      reasoning_tokens: 30,
      estimated_requests: 1,
      unpriced_requests: 0,
    });
    expect(page.data[0]).not.toHaveProperty('key_id');
  });

  it('groups by any of key, user, model, supplier and region, and filters by each', async () => {
    const byModel = await list(`/v1/manage/usage?org_id=${orgA}&${range}&group_by=model,region`);
    expect(byModel.data.map((b) => [b.day, b.model, b.region, b.requests])).toEqual([
      [DAY1, 'api-a', 'EU', 2],
      [DAY2, 'api-a', 'EU', 1],
      [DAY2, 'api-b', 'US', 1],
      [DAY3, 'api-a', null, 1],
      [DAY3, 'api-a', 'EU', 1],
    ]);
    const byUser = await list(`/v1/manage/usage?org_id=${orgA}&${range}&group_by=user`);
    expect(byUser.data.filter((b) => b.day === DAY3).map((b) => b.user_id)).toEqual([null, other.userId]);

    const filtered = async (query: string) =>
      (await list(`/v1/manage/usage?org_id=${orgA}&${query.includes('from=') ? '' : `${range}&`}${query}`)).data.map((b) => [b.day, b.requests]);
    expect(await filtered(`key_id=${keys.member}`)).toEqual([[DAY1, 2], [DAY2, 1]]);
    expect(await filtered(`user_id=${other.userId}`)).toEqual([[DAY2, 1], [DAY3, 1]]);
    expect(await filtered('model=api-b')).toEqual([[DAY2, 1]]);
    expect(await filtered('supplier_id=sup-2')).toEqual([[DAY2, 1]]);
    expect(await filtered('region=US')).toEqual([[DAY2, 1]]);
    expect(await filtered(`from=${DAY2}&to=${DAY2}`)).toEqual([[DAY2, 2]]);
  });

  it('pages with a cursor through every bucket once, in order', async () => {
    const seen: Bucket[] = [];
    let path = `/v1/manage/usage?${range}&group_by=key,model&limit=2`;
    for (let pages = 0; pages < 10; pages++) {
      const page = await list(path);
      seen.push(...page.data);
      if (page.next_cursor === null) break;
      path = `/v1/manage/usage?${range}&group_by=key,model&limit=2&after=${page.next_cursor}`;
    }
    const all = await list(`/v1/manage/usage?${range}&group_by=key,model&limit=1000`);
    expect(seen).toEqual(all.data);
    expect(all.data).toHaveLength(6); // both orgs: staff without org_id see every org
  });

  it('exports CSV with the cost as exact decimal text and the next cursor in a header', async () => {
    const res = await get(`/v1/manage/usage?org_id=${orgA}&${range}&group_by=model&format=csv&limit=2`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.headers.get('x-next-cursor')).toBeTruthy();
    const lines = (await res.text()).split('\r\n');
    expect(lines[0]).toBe(
      'day,model,requests,errors,input_tokens,output_tokens,cached_input_tokens,cache_write_tokens,reasoning_tokens,audio_seconds,cost,cost_micros,estimated_requests,unpriced_requests',
    );
    expect(lines[1]).toBe(`${DAY1},api-a,2,1,2000,200,0,0,0,0,0.001200,1200,0,0`);
    expect(lines).toHaveLength(4); // header, two rows, the empty string after the last CRLF
  });

  it('answers from the rollup, not from the raw rows', async () => {
    await h.testDb.db.query('UPDATE usage_daily SET cost_micros = cost_micros + 1 WHERE org_id = $1 AND day = $2', [orgB, DAY1]);
    try {
      const page = await list(`/v1/manage/usage?org_id=${orgB}&${range}`);
      expect(page.data.map((b) => b.cost_micros)).toEqual([1201]);
    } finally {
      await h.testDb.db.query('UPDATE usage_daily SET cost_micros = cost_micros - 1 WHERE org_id = $1 AND day = $2', [orgB, DAY1]);
    }
  });

  it('defaults to the last 30 days up to today', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const old = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
    await ingestUsage(h.testDb.db, h.nodeId, [event(orgB, keys.foreign, today), event(orgB, keys.foreign, old)], { log: silentLogger });
    const page = await list(`/v1/manage/usage?org_id=${orgB}`);
    expect(page.data.map((b) => b.day)).toEqual([today]);
  });
});

describe('monthly summaries', () => {
  it('sums each org per UTC calendar month', async () => {
    const page = await list('/v1/manage/usage/monthly?from=2026-01&to=2026-02');
    const mine = page.data.filter((m) => m.org_id === orgA || m.org_id === orgB);
    const janA = ['2026-01', 'A', 4, 1200 + 4340];
    const janB = ['2026-01', 'B', 1, 1200];
    // Ordered by month, then org id.
    expect(mine.map((m) => [m.month, m.org_id === orgA ? 'A' : 'B', m.requests, m.cost_micros])).toEqual([
      ...(orgA < orgB ? [janA, janB] : [janB, janA]),
      ['2026-02', 'A', 2, 2400],
    ]);
    expect(mine[0]).toMatchObject({ object: 'usage_month', cost: microsUsd(mine[0]!.cost_micros as number) });
  });

  it('pages with a cursor and exports CSV', async () => {
    const first = await list('/v1/manage/usage/monthly?from=2026-01&to=2026-02&limit=1');
    expect(first.data).toHaveLength(1);
    const second = await list(`/v1/manage/usage/monthly?from=2026-01&to=2026-02&limit=1&after=${first.next_cursor}`);
    expect(second.data[0]).not.toEqual(first.data[0]);
    const csv = await (await get(`/v1/manage/usage/monthly?org_id=${orgA}&from=2026-01&to=2026-01&format=csv`)).text();
    expect(csv.split('\r\n')[1]).toBe(`2026-01,${orgA},4,1,4000,400,400,0,30,0,0.005540,5540,1,0`);
  });
});

function microsUsd(micros: number): number {
  return micros / 1_000_000;
}

describe('one request by its id', () => {
  it('answers the usage row of a request, with cost in USD and micros', async () => {
    const res = await get(`/v1/manage/usage/requests/${requests.other}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      object: 'usage_event',
      request_id: requests.other,
      org_id: orgA,
      key_id: keys.other,
      user_id: other.userId,
      node_id: h.nodeId,
      model: 'api-a',
      status: 200,
      input_tokens: 1000,
      cached_input_tokens: 400,
      reasoning_tokens: 30,
      estimated: true,
      unpriced: false,
      cost_micros: 1200 - 360,
      cost: 0.00084,
      started_at: `${DAY2}T12:00:00.000Z`,
    });
  });

  it('answers 404 for an unknown id, a malformed one, and one the caller may not see', async () => {
    expect((await get('/v1/manage/usage/requests/req_nope')).status).toBe(404);
    expect((await get(`/v1/manage/usage/requests/${'x'.repeat(65)}`)).status).toBe(404);
    const foreign = await get(`/v1/manage/usage/requests/${requests.foreign}`, owner);
    const missing = await get('/v1/manage/usage/requests/req_nope', owner);
    expect(foreign.status).toBe(404);
    const body = (r: { error: Record<string, unknown> }) => ({ ...r.error, request_id: null });
    expect(body(await foreign.json())).toEqual(body(await missing.json()));
    // A plain member sees their own key's request, not another member's.
    expect((await get(`/v1/manage/usage/requests/${requests.member}`, member.token)).status).toBe(200);
    expect((await get(`/v1/manage/usage/requests/${requests.other}`, member.token)).status).toBe(404);
  });
});

describe('who sees what', () => {
  const total = (page: List) => page.data.reduce((sum, b) => sum + (b.requests as number), 0);

  it('shows owners and admins their whole org, a plain member only their own keys', async () => {
    expect(total(await list(`/v1/manage/usage?org_id=${orgA}&${range}`, owner))).toBe(6);
    expect(total(await list(`/v1/manage/usage?org_id=${orgA}&${range}`, admin))).toBe(6);
    expect(total(await list(`/v1/manage/usage?org_id=${orgA}&${range}`, member.token))).toBe(3);
    expect(total(await list(`/v1/manage/usage?${range}`, member.token))).toBe(3);
    // Naming another member's key or user narrows to nothing, as for a key that does not exist.
    expect(total(await list(`/v1/manage/usage?${range}&key_id=${keys.other}`, member.token))).toBe(0);
    expect(total(await list(`/v1/manage/usage?${range}&user_id=${other.userId}`, member.token))).toBe(0);
    const months = await list('/v1/manage/usage/monthly?from=2026-01&to=2026-02', member.token);
    expect(months.data.map((m) => [m.month, m.requests])).toEqual([['2026-01', 3]]);
  });

  it("answers another tenant's org like a missing one, and never mixes tenants without a filter", async () => {
    const foreign = await get(`/v1/manage/usage?org_id=${orgA}&${range}`, outsider);
    const missing = await get(`/v1/manage/usage?org_id=${uuidv7()}&${range}`, outsider);
    expect(foreign.status).toBe(404);
    expect(missing.status).toBe(404);
    expect((await get(`/v1/manage/usage/monthly?org_id=${orgA}`, outsider)).status).toBe(404);
    expect(total(await list(`/v1/manage/usage?${range}`, outsider))).toBe(1);
    expect(total(await list(`/v1/manage/usage?${range}&key_id=${keys.member}`, outsider))).toBe(0);
  });

  it('refuses a request without a management token', async () => {
    expect((await h.request('GET', '/v1/manage/usage')).status).toBe(401);
  });
});

describe('bad filters', () => {
  it.each([
    ['from=2026-02-30', 'from'],
    ['from=26-01-01', 'from'],
    ['to=2026-13-01', 'to'],
    ['to=0000-01-01', 'to'],
    [`from=${DAY3}&to=${DAY1}`, 'from'],
    ['from=2025-01-01&to=2026-01-02', 'to'], // 367 days
    ['group_by=key,colour', 'group_by'],
    ['region=MARS', 'region'],
    ['key_id=not-a-uuid', 'key_id'],
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['format=xml', 'format'],
    ['after=bm90IGEgY3Vyc29y', 'after'],
    // A forged cursor whose dimension holds U+0000 (was a 500: PostgreSQL text cannot hold it).
    [`group_by=model&after=${Buffer.from(JSON.stringify(['2026-01-02', 'a\u0000b'])).toString('base64url')}`, 'after'],
  ])('refuses %s with a 422 naming %s', async (query, param) => {
    const res = await get(`/v1/manage/usage?${query}`);
    expect(res.status).toBe(422);
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({ code: 'validation_failed', type: 'invalid_request_error', param });
    expect(typeof body.error.message).toBe('string');
    expect(typeof body.error.request_id).toBe('string');
  });

  it('accepts a full leap year, and refuses a cursor from a query grouped otherwise', async () => {
    expect((await get('/v1/manage/usage?from=2024-01-01&to=2024-12-31')).status).toBe(200);
    const page = await list(`/v1/manage/usage?${range}&group_by=key&limit=1`);
    expect((await get(`/v1/manage/usage?${range}&group_by=key,model&limit=1&after=${page.next_cursor}`)).status).toBe(422);
  });

  it.each([
    ['from=2026-1', 'from'],
    ['to=2026-00', 'to'],
    ['from=2026-03&to=2026-01', 'from'],
    ['from=2024-01&to=2026-01', 'to'], // 25 months
  ])('refuses monthly %s with a 422 naming %s', async (query, param) => {
    const res = await get(`/v1/manage/usage/monthly?${query}`);
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe(param);
  });
});
