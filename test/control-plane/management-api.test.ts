// The management API on a real database, once on PostgreSQL (when the machine has one) and once
// on embedded PGlite: the same code path, two targets.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../shared/api-key.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';
import { postgresAvailable } from '../support/db.ts';

const targets = [...(postgresAvailable() ? (['postgres'] as const) : []), 'pglite'] as const;

describe.each(targets)('management API on %s', (target) => {
  let h: Harness;
  let orgId: string;

  beforeAll(async () => {
    h = await createHarness(target);
    const res = await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: { name: 'Acme' } });
    orgId = ((await res.json()) as { id: string }).id;
  }, 60_000);
  afterAll(() => h?.close());

  const auditCount = async () => Number((await h.testDb.db.query<{ n: string }>('SELECT count(*) AS n FROM audit_log')).rows[0]!.n);

  it('answers the same 401 for a missing, malformed, unknown and revoked management token', async () => {
    const { token } = await h.addUser({ platformRole: 'taas_admin' });
    await h.testDb.db.query('UPDATE admin_tokens SET revoked_at = now() WHERE token_hash = $1', [await hashToken(token)]);
    const bodies = [];
    for (const t of [undefined, 'tpat_nope', `tpat_${'A'.repeat(38)}`, token]) {
      const res = await h.request('GET', '/v1/manage/orgs', t ? { token: t } : {});
      expect(res.status).toBe(401);
      const body = (await res.json()) as { error: Record<string, unknown> };
      expect(body.error.request_id).toMatch(/^req_/);
      bodies.push({ ...body.error, request_id: null });
    }
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
  });

  it('creates a key whose raw value is answered once and stored only as its SHA-256', async () => {
    const before = await auditCount();
    const res = await h.request('POST', '/v1/manage/keys', {
      token: h.ownerToken,
      body: { org_id: orgId, name: 'prod-eu', allowed_models: ['demo-model'], allowed_regions: ['EU'] },
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: string; key: string; prefix: string; allowed_regions: string[] };
    expect(created.key).toMatch(/^taas_/);
    expect(created.prefix).toBe(created.key.slice(0, 13));
    expect(created.allowed_regions).toEqual(['EU']);

    const rows = await h.testDb.db.query('SELECT * FROM api_keys WHERE id = $1', [created.id]);
    expect(rows.rows[0]!.key_hash).toBe(await hashToken(created.key));
    // The raw key appears nowhere in the database, in any table.
    const dump = await h.testDb.db.query(
      `SELECT (SELECT json_agg(k) FROM api_keys k)::text || (SELECT json_agg(a) FROM audit_log a)::text AS everything`,
    );
    expect(dump.rows[0]!.everything).not.toContain(created.key);

    const listed = (await (await h.request('GET', `/v1/manage/keys?org_id=${orgId}`, { token: h.ownerToken })).json()) as {
      data: Record<string, unknown>[];
    };
    const entry = listed.data.find((k) => k.id === created.id)!;
    expect(entry.prefix).toBe(created.prefix);
    expect(JSON.stringify(listed)).not.toContain(created.key);
    expect(await auditCount()).toBe(before + 1);
  });

  it('writes exactly one audit row per revoke and none for revoking a revoked key', async () => {
    const created = (await (await h.request('POST', '/v1/manage/keys', { token: h.ownerToken, body: { org_id: orgId, name: 'to-revoke' } })).json()) as { id: string };
    const before = await auditCount();
    const first = await h.request('POST', `/v1/manage/keys/${created.id}/revoke`, { token: h.ownerToken });
    expect(first.status).toBe(200);
    expect(((await first.json()) as { status: string }).status).toBe('revoked');
    const second = await h.request('POST', `/v1/manage/keys/${created.id}/revoke`, { token: h.ownerToken });
    expect(second.status).toBe(200);
    expect(await auditCount()).toBe(before + 1);
    const audit = await h.testDb.db.query("SELECT action, target_id, before, after FROM audit_log WHERE target_id = $1 ORDER BY id", [created.id]);
    expect(audit.rows.map((r) => r.action)).toEqual(['api_key.create', 'api_key.revoke']);
    expect(audit.rows[1]!.before.status).toBe('active');
    expect(audit.rows[1]!.after.status).toBe('revoked');
  });

  it('rejects bad input with the documented error and writes nothing', async () => {
    const before = await auditCount();
    const keysBefore = (await h.testDb.db.query('SELECT count(*) AS n FROM api_keys')).rows[0]!.n;
    const cases: [unknown, number, string, string | null][] = [
      ['{"name": ', 400, 'invalid_json', null],
      [{ org_id: orgId }, 422, 'validation_failed', 'name'],
      [{ org_id: orgId, name: 'a\u0000b' }, 422, 'validation_failed', 'name'],
      [{ org_id: orgId, name: 'x', allowed_regions: ['MARS'] }, 422, 'validation_failed', 'allowed_regions.0'],
      [{ org_id: orgId, name: 'x', budget_limit: 5 }, 422, 'validation_failed', null],
      [{ org_id: 'not-a-uuid', name: 'x' }, 422, 'validation_failed', 'org_id'],
      [{ org_id: orgId, name: 'x', expires_at: '2001-01-01T00:00:00Z' }, 422, 'validation_failed', 'expires_at'],
      [{ org_id: orgId, name: 'x', owner_user_id: '0190a000-0000-7000-8000-000000000009' }, 422, 'validation_failed', 'owner_user_id'],
      [{ org_id: '0190a000-0000-7000-8000-00000000000f', name: 'x' }, 404, 'not_found', 'org_id'],
      [[1, 2, 3], 422, 'validation_failed', null],
    ];
    for (const [body, status, code, param] of cases) {
      const res = await h.request('POST', '/v1/manage/keys', { token: h.ownerToken, body });
      expect(res.status, JSON.stringify(body)).toBe(status);
      const error = ((await res.json()) as { error: { code: string; param: string | null; type: string } }).error;
      expect(error.code).toBe(code);
      if (param) expect(error.param).toBe(param);
    }
    const wrongType = await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: 'name=x', headers: { 'content-type': 'text/plain' } });
    expect(wrongType.status).toBe(415);
    const huge = await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: { name: 'x'.repeat(2 * 1024 * 1024) } });
    expect(huge.status).toBe(413);
    expect(await auditCount()).toBe(before);
    expect((await h.testDb.db.query('SELECT count(*) AS n FROM api_keys')).rows[0]!.n).toBe(keysBefore);
  });

  it("answers another tenant's key and org exactly like missing ones", async () => {
    const other = (await (await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: { name: 'Other' } })).json()) as { id: string };
    const foreignKey = (await (await h.request('POST', '/v1/manage/keys', { token: h.ownerToken, body: { org_id: other.id, name: 'theirs' } })).json()) as { id: string };
    const admin = await h.addUser({ orgId, orgRole: 'org_admin' });
    const missing = '0190a000-0000-7000-8000-0000000000aa';

    const answers = async (path: string, method = 'GET') => {
      const res = await h.request(method, path, { token: admin.token });
      const body = (await res.json()) as { error: Record<string, unknown> };
      return { status: res.status, error: { ...body.error, request_id: null } };
    };
    expect(await answers(`/v1/manage/keys/${foreignKey.id}`)).toEqual(await answers(`/v1/manage/keys/${missing}`));
    expect((await answers(`/v1/manage/keys/${foreignKey.id}`)).status).toBe(404);
    expect(await answers(`/v1/manage/keys/${foreignKey.id}/revoke`, 'POST')).toEqual(await answers(`/v1/manage/keys/${missing}/revoke`, 'POST'));
    expect(await answers(`/v1/manage/orgs/${other.id}`)).toEqual(await answers(`/v1/manage/orgs/${missing}`));
    expect((await answers(`/v1/manage/keys?org_id=${other.id}`)).status).toBe(404);
    const stillActive = await h.testDb.db.query('SELECT status FROM api_keys WHERE id = $1', [foreignKey.id]);
    expect(stillActive.rows[0]!.status).toBe('active');

    const orgs = (await (await h.request('GET', '/v1/manage/orgs', { token: admin.token })).json()) as { data: { id: string }[] };
    expect(orgs.data.map((o) => o.id)).toEqual([orgId]);
  });

  it('lets a plain user create and see only their own keys, and no org', async () => {
    const alice = await h.addUser({ orgId, orgRole: 'user' });
    const bob = await h.addUser({ orgId, orgRole: 'user' });
    const own = await h.request('POST', '/v1/manage/keys', { token: alice.token, body: { name: 'alice key' } });
    expect(own.status).toBe(201);
    expect(((await own.json()) as { owner_user_id: string }).owner_user_id).toBe(alice.userId);
    const forBob = await h.request('POST', '/v1/manage/keys', { token: alice.token, body: { name: 'for bob', owner_user_id: bob.userId } });
    expect(forBob.status).toBe(403);
    const bobs = (await (await h.request('POST', '/v1/manage/keys', { token: bob.token, body: { name: 'bob key' } })).json()) as { id: string };
    const list = (await (await h.request('GET', '/v1/manage/keys', { token: alice.token })).json()) as { data: { owner_user_id: string }[] };
    expect(list.data.length).toBeGreaterThan(0);
    expect(list.data.every((k) => k.owner_user_id === alice.userId)).toBe(true);
    expect((await h.request('GET', `/v1/manage/keys/${bobs.id}`, { token: alice.token })).status).toBe(404);
    expect((await h.request('POST', '/v1/manage/orgs', { token: alice.token, body: { name: 'mine' } })).status).toBe(403);
  });

  it('pages lists with a cursor', async () => {
    for (let i = 0; i < 3; i++) await h.request('POST', '/v1/manage/keys', { token: h.ownerToken, body: { org_id: orgId, name: `page-${i}` } });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/v1/manage/keys?org_id=${orgId}&limit=2${cursor ? `&after=${cursor}` : ''}`;
      const page = (await (await h.request('GET', query, { token: h.ownerToken })).json()) as { data: { id: string }[]; next_cursor: string | null };
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((k) => k.id));
      cursor = page.next_cursor;
    } while (cursor);
    const total = Number((await h.testDb.db.query('SELECT count(*) AS n FROM api_keys WHERE org_id = $1', [orgId])).rows[0]!.n);
    expect(seen.length).toBe(total);
    expect(new Set(seen).size).toBe(total);
    expect((await h.request('GET', `/v1/manage/keys?org_id=${orgId}&limit=1000`, { token: h.ownerToken })).status).toBe(422);
  });

  it('keeps the audit log append-only: UPDATE, DELETE and TRUNCATE fail', async () => {
    const before = await auditCount();
    await expect(h.testDb.db.query("UPDATE audit_log SET action = 'forged'")).rejects.toThrow(/append-only/);
    await expect(h.testDb.db.query('DELETE FROM audit_log')).rejects.toThrow(/append-only/);
    await expect(h.testDb.db.query('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
    expect(await auditCount()).toBe(before);
  });

  it('lets only the platform owner register edge nodes, with a public key only', async () => {
    const staff = await h.addUser({ platformRole: 'taas_admin' });
    const jwk = { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) };
    expect((await h.request('POST', '/v1/manage/edge-nodes', { token: staff.token, body: { id: 'edge-x', public_key_jwk: jwk } })).status).toBe(403);
    const withSecret = await h.request('POST', '/v1/manage/edge-nodes', { token: h.ownerToken, body: { id: 'edge-x', public_key_jwk: { ...jwk, d: 'B'.repeat(43) } } });
    expect(withSecret.status).toBe(422);
    expect((await h.request('POST', '/v1/manage/edge-nodes', { token: h.ownerToken, body: { id: h.nodeId, public_key_jwk: jwk } })).status).toBe(409);
  });
});
