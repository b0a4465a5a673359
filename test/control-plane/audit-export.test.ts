// GET /v1/manage/audit: filters, seq-cursor paging, CSV as RFC 4180 says, and who sees what —
// platform staff everything, org owners and admins their orgs, everyone else nothing.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeAudit } from '../../control-plane/audit.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';
import { postgresAvailable } from '../support/db.ts';

const targets = [...(postgresAvailable() ? (['postgres'] as const) : []), 'pglite'] as const;

type Event = { seq: number; at: string; org_id: string | null; actor_user_id: string | null; action: string; target_type: string; target_id: string; after: unknown; prev_hash: string; row_hash: string; id: number };
type Page = { object: 'list'; data: Event[]; next_cursor: string | null };

const NASTY_TARGET = 'a,b "c"\r\nd';
const NASTY_AFTER = { note: 'x,"y"\nz' };

describe.each(targets)('audit export on %s', (target) => {
  let h: Harness;
  let orgA: string;
  let orgB: string;
  let adminA: { userId: string; token: string };
  let plainA: { userId: string; token: string };
  let keyA: string;

  const get = (path: string, token = h.ownerToken) => h.request('GET', path, { token });
  const page = async (path: string, token?: string) => (await (await get(path, token)).json()) as Page;
  const sqlSeqs = async (where = 'true', params: unknown[] = []) =>
    (await h.testDb.db.query<{ seq: number }>(`SELECT a.seq::int AS seq FROM audit_log a WHERE ${where} ORDER BY a.seq`, params)).rows.map((r) => r.seq);

  beforeAll(async () => {
    h = await createHarness(target);
    const org = async (name: string) => ((await (await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: { name } })).json()) as { id: string }).id;
    orgA = await org('A');
    orgB = await org('B');
    adminA = await h.addUser({ orgId: orgA, orgRole: 'org_admin' });
    plainA = await h.addUser({ orgId: orgA, orgRole: 'user' });
    for (const [orgId, name] of [[orgA, 'a1'], [orgA, 'a2'], [orgB, 'b1'], [orgA, 'a3'], [orgB, 'b2']] as const) {
      const res = await h.request('POST', '/v1/manage/keys', { token: h.ownerToken, body: { org_id: orgId, name } });
      keyA ??= ((await res.json()) as { id: string }).id;
    }
    await h.testDb.db.transaction((tx) =>
      writeAudit(tx, { userId: adminA.userId, tokenId: null, requestId: null, clientAddr: null }, {
        action: 'test.csv', targetType: 'thing', targetId: NASTY_TARGET, orgId: orgA, after: NASTY_AFTER,
      }),
    );
  }, 60_000);
  afterAll(() => h?.close());

  it('lets platform staff page through every row exactly once, in chain order', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const next: Page = await page(`/v1/manage/audit?limit=2${cursor ? `&after=${cursor}` : ''}`);
      expect(next.data.length).toBeLessThanOrEqual(2);
      seen.push(...next.data.map((e) => e.seq));
      cursor = next.next_cursor;
    } while (cursor);
    expect(seen).toEqual(await sqlSeqs());
    expect(seen.length).toBeGreaterThan(9);
  });

  it('pages CSV the same way, the next cursor in X-Next-Cursor', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const res = await get(`/v1/manage/audit?org_id=${orgB}&format=csv&limit=1${cursor ? `&after=${cursor}` : ''}`);
      const [header, ...records] = (await res.text()).split('\r\n').filter((line) => line !== '');
      expect(header).toMatch(/^seq,id,at,org_id,/);
      seen.push(...records.map((line) => Number(line.split(',')[0])));
      cursor = res.headers.get('x-next-cursor');
    } while (cursor);
    expect(seen).toEqual(await sqlSeqs('a.org_id = $1', [orgB]));
  });

  it('filters by org, actor, action, target and a half-open time range', async () => {
    const created = await page(`/v1/manage/audit?org_id=${orgA}&action=api_key.create`);
    expect(created.data.map((e) => [e.org_id, e.action])).toEqual(Array(3).fill([orgA, 'api_key.create']));
    expect((await page(`/v1/manage/audit?actor_user_id=${adminA.userId}`)).data.map((e) => e.action)).toEqual(['test.csv']);
    expect((await page(`/v1/manage/audit?target_type=api_key&target_id=${keyA}`)).data.map((e) => e.target_id)).toEqual([keyA]);

    const all = (await page('/v1/manage/audit?limit=1000')).data;
    const [first, second] = [all[3]!, all[4]!];
    const window = await page(`/v1/manage/audit?from=${first.at}&to=${second.at}`);
    expect(window.data.map((e) => e.seq)).toEqual([first.seq]);
  });

  it('answers CSV as an RFC 4180 attachment: header row, quoted commas, quotes and newlines, JSON in before/after', async () => {
    const res = await get(`/v1/manage/audit?actor_user_id=${adminA.userId}&format=csv`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="[^"]+\.csv"$/);
    const event = (await page(`/v1/manage/audit?actor_user_id=${adminA.userId}`)).data[0]!;
    const expected =
      'seq,id,at,org_id,actor_user_id,actor_token_id,action,target_type,target_id,before,after,request_id,client_addr,prev_hash,row_hash\r\n' +
      `${event.seq},${event.id},${event.at},${orgA},${adminA.userId},,test.csv,thing,"a,b ""c""\r\nd",,"{""note"":""x,\\""y\\""\\nz""}",,,${event.prev_hash},${event.row_hash}\r\n`;
    expect(await res.text()).toBe(expected);
  });

  it("shows an org admin only their org's rows, and answers another org's id exactly like a missing one", async () => {
    expect((await page('/v1/manage/audit?limit=1000', adminA.token)).data.map((e) => e.seq)).toEqual(await sqlSeqs('a.org_id = $1', [orgA]));
    const answer = async (orgId: string) => {
      const res = await get(`/v1/manage/audit?org_id=${orgId}`, adminA.token);
      return { status: res.status, error: { ...((await res.json()) as { error: object }).error, request_id: null } };
    };
    const foreign = await answer(orgB);
    expect(foreign.status).toBe(404);
    expect(foreign).toEqual(await answer('0190a000-0000-7000-8000-0000000000aa'));
  });

  it('refuses members without an admin role with 403, also for the org they belong to and beside one they administer', async () => {
    expect((await get('/v1/manage/audit', plainA.token)).status).toBe(403);
    expect((await get(`/v1/manage/audit?org_id=${orgA}`, plainA.token)).status).toBe(403);
    const mixed = await h.addUser({ orgId: orgA, orgRole: 'org_owner' });
    await h.testDb.db.query("INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'user')", [orgB, mixed.userId]);
    expect((await get(`/v1/manage/audit?org_id=${orgB}`, mixed.token)).status).toBe(403);
    const own = await page('/v1/manage/audit?limit=1000', mixed.token);
    expect(new Set(own.data.map((e) => e.org_id))).toEqual(new Set([orgA]));
  });

  it('writes no audit row for reading the log', async () => {
    const before = await sqlSeqs();
    await get('/v1/manage/audit');
    await get('/v1/manage/audit?format=csv');
    await get('/v1/manage/audit', adminA.token);
    expect(await sqlSeqs()).toEqual(before);
  });

  it('rejects malformed filters with 422 naming the field', async () => {
    for (const [query, param] of [['after=abc', 'after'], ['from=yesterday', 'from'], ['limit=1001', 'limit'], ['format=xml', 'format'], ['org_id=nope', 'org_id']]) {
      const res = await get(`/v1/manage/audit?${query}`);
      expect(res.status, query).toBe(422);
      expect(((await res.json()) as { error: { param: string } }).error.param).toBe(param);
    }
  });
});
