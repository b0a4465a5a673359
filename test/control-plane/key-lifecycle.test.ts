// Keys with their full policy: budgets, limits, expiry, PATCH, rotation with overlap, and how
// each change reaches the manifest; Idempotency-Key on creation.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../shared/api-key.ts';
import { purgeExpiredIdempotencyKeys } from '../../control-plane/sql/idempotency.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';

let h: Harness;
let orgId: string;

beforeAll(async () => {
  h = await createHarness();
  orgId = ((await (await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: { name: 'Keys' } })).json()) as { id: string }).id;
}, 60_000);
afterAll(() => h?.close());

type Key = Record<string, unknown> & { id: string; key: string };
const create = async (body: Record<string, unknown>, token = h.ownerToken) => h.request('POST', '/v1/manage/keys', { token, body: { org_id: orgId, ...body } });
const auditRows = async (id: string) => (await h.testDb.db.query('SELECT action, before, after FROM audit_log WHERE target_id = $1 ORDER BY id', [id])).rows;

describe('key policy', () => {
  it('accepts the TaaS body of PRODUCT.md and answers money as USD and exact micro-USD', async () => {
    const res = await create({ name: 'prod-eu-finance', allowed_models: ['gpt-4o', 'claude-sonnet-4-5'], allowed_regions: ['EU'], budget_limit: 500.0, budget_period: 'monthly', rate_limit_rpm: 200 });
    expect(res.status).toBe(201);
    const key = (await res.json()) as Key;
    expect(key).toMatchObject({ budget_limit: 500, budget_limit_micros: 500_000_000, budget_period: 'monthly', rate_limit_rpm: 200, rate_limit_tpm: null });
    const entry = (await h.manifest()).keys[await hashToken(key.key)];
    expect(entry).toMatchObject({ budget: { limit_micros: 500_000_000, period: 'monthly' }, rate_limit_rpm: 200, allowed_regions: ['EU'] });
  });

  it('refuses a budget without its period, fractions of a micro-dollar and negative limits', async () => {
    for (const [body, param] of [
      [{ budget_limit: 5 }, 'budget_period'],
      [{ budget_period: 'daily' }, 'budget_period'],
      [{ budget_limit: 0.0000001, budget_period: 'daily' }, 'budget_limit'],
      [{ budget_limit: -1, budget_period: 'daily' }, 'budget_limit'],
      [{ rate_limit_rpm: 0 }, 'rate_limit_rpm'],
      [{ rate_limit_tpm: 1.5 }, 'rate_limit_tpm'],
    ] as const) {
      const res = await create({ name: 'bad', ...body });
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(((await res.json()) as { error: { param: string } }).error.param).toBe(param);
    }
  });

  it("keeps a member's key within the member's own limits", async () => {
    const member = await h.addUser({ orgId, orgRole: 'user' });
    await h.testDb.db.query(
      "UPDATE org_members SET allowed_models = '{m1,m2}', budget_limit_micros = 100000000, budget_period = 'monthly' WHERE user_id = $1",
      [member.userId],
    );
    const narrowed = (await (await create({ name: 'narrow' }, member.token)).json()) as Key;
    expect(narrowed.allowed_models).toEqual(['m1', 'm2']);
    const beyond = await create({ name: 'beyond', allowed_models: ['m1', 'm3'] }, member.token);
    expect(beyond.status).toBe(422);
    expect(((await beyond.json()) as { error: { param: string } }).error.param).toBe('allowed_models');
    const richer = await create({ name: 'richer', budget_limit: 100.01, budget_period: 'daily' }, member.token);
    expect(richer.status).toBe(422);
    // An admin creating a key for the member is held to the same limits.
    const byAdmin = await create({ name: 'by admin', owner_user_id: member.userId, allowed_models: ['m3'] });
    expect(byAdmin.status).toBe(422);
    const within = await create({ name: 'within', budget_limit: 100, budget_period: 'monthly' }, member.token);
    expect(within.status).toBe(201);
    expect((await h.manifest()).keys[await hashToken(((await within.json()) as Key).key)]).toMatchObject({
      owner_budget: { limit_micros: 100_000_000, period: 'monthly' },
    });
  });
});

describe('changing a key', () => {
  it('patches only the fields sent, clears with null, audits before and after, and republishes', async () => {
    const key = (await (await create({ name: 'patch me', budget_limit: 10, budget_period: 'daily', rate_limit_rpm: 5 })).json()) as Key;
    const res = await h.request('PATCH', `/v1/manage/keys/${key.id}`, { token: h.ownerToken, body: { name: 'patched', rate_limit_rpm: null, allowed_regions: ['US'] } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: 'patched', rate_limit_rpm: null, allowed_regions: ['US'], budget_limit: 10, budget_period: 'daily' });
    const rows = await auditRows(key.id);
    expect(rows.map((r) => r.action)).toEqual(['api_key.create', 'api_key.update']);
    expect(rows[1]!.before).toMatchObject({ name: 'patch me', rate_limit_rpm: 5 });
    expect(rows[1]!.after).toMatchObject({ name: 'patched', rate_limit_rpm: null });
    expect((await h.manifest()).keys[await hashToken(key.key)]).toMatchObject({ allowed_regions: ['US'], rate_limit_rpm: null });
  });

  it('clears the whole budget when either half is sent as null', async () => {
    for (const clear of [{ budget_limit: null }, { budget_period: null }, { budget_limit: null, budget_period: null }]) {
      const key = (await (await create({ name: 'budgeted', budget_limit: 10, budget_period: 'daily' })).json()) as Key;
      const res = await h.request('PATCH', `/v1/manage/keys/${key.id}`, { token: h.ownerToken, body: clear });
      expect(res.status, JSON.stringify(clear)).toBe(200);
      expect(await res.json()).toMatchObject({ budget_limit: null, budget_limit_micros: null, budget_period: null });
      expect((await h.manifest()).keys[await hashToken(key.key)]).toMatchObject({ budget: null });
    }
    const key = (await (await create({ name: 'budgeted', budget_limit: 10, budget_period: 'daily' })).json()) as Key;
    for (const body of [{ budget_limit: null, budget_period: 'daily' }, { budget_limit: 5, budget_period: null }]) {
      expect((await h.request('PATCH', `/v1/manage/keys/${key.id}`, { token: h.ownerToken, body })).status, JSON.stringify(body)).toBe(422);
    }
  });

  it('refuses an empty or invalid patch and changes nothing', async () => {
    const key = (await (await create({ name: 'stable' })).json()) as Key;
    for (const body of [{}, { budget_limit: 5 }, { expires_at: '2000-01-01T00:00:00Z' }, { org_id: orgId }]) {
      expect((await h.request('PATCH', `/v1/manage/keys/${key.id}`, { token: h.ownerToken, body })).status, JSON.stringify(body)).toBe(422);
    }
    expect((await auditRows(key.id)).map((r) => r.action)).toEqual(['api_key.create']);
  });

  it("lets an org_admin read an org_owner's keys but not create, change, rotate or revoke them", async () => {
    const owner = await h.addUser({ orgId, orgRole: 'org_owner' });
    const admin = await h.addUser({ orgId, orgRole: 'org_admin' });
    const member = await h.addUser({ orgId, orgRole: 'user' });
    expect((await create({ name: 'for the owner', owner_user_id: owner.userId }, admin.token)).status).toBe(403);
    const ownerKey = (await (await create({ name: "owner's" }, owner.token)).json()) as Key;
    expect((await h.request('GET', `/v1/manage/keys/${ownerKey.id}`, { token: admin.token })).status).toBe(200);
    const attempts: [string, string, unknown][] = [
      ['PATCH', `/v1/manage/keys/${ownerKey.id}`, { budget_limit: 1, budget_period: 'daily' }],
      ['POST', `/v1/manage/keys/${ownerKey.id}/rotate`, { overlap_seconds: 0 }],
      ['POST', `/v1/manage/keys/${ownerKey.id}/revoke`, undefined],
    ];
    for (const [method, path, body] of attempts) {
      const res = await h.request(method, path, { token: admin.token, ...(body === undefined ? {} : { body }) });
      expect(res.status, path).toBe(403);
    }
    expect((await auditRows(ownerKey.id)).map((r) => r.action)).toEqual(['api_key.create']);
    expect((await h.manifest()).keys[await hashToken(ownerKey.key)]).toBeDefined();
    // A plain member's key stays the admin's to manage.
    const memberKey = (await (await create({ name: 'member', owner_user_id: member.userId }, admin.token)).json()) as Key;
    expect((await h.request('POST', `/v1/manage/keys/${memberKey.id}/revoke`, { token: admin.token })).status).toBe(200);
  });

  it("takes a narrowing of the owner's allowlists to keys written before it, in the snapshot and in the delta", async () => {
    const member = await h.addUser({ orgId, orgRole: 'user' });
    const key = (await (await create({ name: 'wide open' }, member.token)).json()) as Key;
    expect(key.allowed_models).toEqual([]);
    const hash = await hashToken(key.key);
    const versionBefore = (await h.manifest()).version;
    const narrowed = await h.request('PATCH', `/v1/manage/orgs/${orgId}/members/${member.userId}`, {
      token: h.ownerToken,
      body: { allowed_models: ['m1'], allowed_regions: ['EU'], allowed_suppliers: ['s1'] },
    });
    expect(narrowed.status).toBe(200);
    expect((await h.manifest()).keys[hash]).toMatchObject({
      allowed_models: [],
      owner_allowed_models: ['m1'],
      owner_allowed_regions: ['EU'],
      owner_allowed_suppliers: ['s1'],
    });
    // The delta log names the key, so edges holding the older version are told too.
    const logged = await h.testDb.db.query('SELECT 1 FROM manifest_key_changes WHERE key_hash = $1 AND version > $2', [hash, versionBefore]);
    expect(logged.rowCount).toBeGreaterThan(0);
  });

  it('refuses to change a revoked key', async () => {
    const key = (await (await create({ name: 'gone' })).json()) as Key;
    await h.request('POST', `/v1/manage/keys/${key.id}/revoke`, { token: h.ownerToken });
    expect((await h.request('PATCH', `/v1/manage/keys/${key.id}`, { token: h.ownerToken, body: { name: 'x' } })).status).toBe(409);
    expect((await h.request('POST', `/v1/manage/keys/${key.id}/rotate`, { token: h.ownerToken })).status).toBe(409);
  });

  it('rotates to a new secret while the old one works until the overlap ends', async () => {
    const key = (await (await create({ name: 'rotate me' })).json()) as Key;
    const res = await h.request('POST', `/v1/manage/keys/${key.id}/rotate`, { token: h.ownerToken, body: { overlap_seconds: 600 } });
    expect(res.status).toBe(200);
    const rotated = (await res.json()) as Key & { previous_key_expires_at: string };
    expect(rotated.key).toMatch(/^taas_/);
    expect(rotated.key).not.toBe(key.key);
    expect(rotated.id).toBe(key.id);
    const manifest = await h.manifest();
    const current = manifest.keys[await hashToken(rotated.key)]!;
    const previous = manifest.keys[await hashToken(key.key)]!;
    expect(current.id).toBe(key.id);
    expect(previous.id).toBe(key.id);
    expect(previous.expires_at).toBe(Math.floor(Date.parse(rotated.previous_key_expires_at) / 1000));
    expect(current.expires_at).toBeNull();

    const again = (await (await h.request('POST', `/v1/manage/keys/${key.id}/rotate`, { token: h.ownerToken, body: { overlap_seconds: 0 } })).json()) as Key;
    const after = await h.manifest();
    expect(after.keys[await hashToken(again.key)]).toBeDefined();
    expect(after.keys[await hashToken(rotated.key)]).toBeUndefined();
    expect(after.keys[await hashToken(key.key)]).toBeUndefined();
    expect((await auditRows(key.id)).map((r) => r.action)).toEqual(['api_key.create', 'api_key.rotate', 'api_key.rotate']);
    const everything = await h.testDb.db.query('SELECT (SELECT json_agg(k) FROM api_keys k)::text || (SELECT json_agg(a) FROM audit_log a)::text AS t');
    for (const raw of [key.key, rotated.key, again.key]) expect(everything.rows[0]!.t).not.toContain(raw);
  });

  it("drops the keys of a disabled user and of a removed member from the manifest", async () => {
    const alice = await h.addUser({ orgId, orgRole: 'user' });
    const bob = await h.addUser({ orgId, orgRole: 'user' });
    const aliceKey = (await (await create({ name: 'alice' }, alice.token)).json()) as Key;
    const bobKey = (await (await create({ name: 'bob' }, bob.token)).json()) as Key;
    expect((await h.manifest()).keys[await hashToken(aliceKey.key)]).toBeDefined();
    await h.testDb.db.transaction(async (tx) => {
      await tx.query("UPDATE users SET status = 'disabled' WHERE id = $1", [alice.userId]);
      await tx.query('DELETE FROM org_members WHERE user_id = $1', [bob.userId]);
      await tx.query('UPDATE manifest_state SET version = version + 1');
    });
    const manifest = await h.manifest();
    expect(manifest.keys[await hashToken(aliceKey.key)]).toBeUndefined();
    expect(manifest.keys[await hashToken(bobKey.key)]).toBeUndefined();
  });
});

describe('Idempotency-Key', () => {
  const withKey = (idem: string, body: Record<string, unknown>) =>
    h.request('POST', '/v1/manage/keys', { token: h.ownerToken, body: { org_id: orgId, ...body }, headers: { 'idempotency-key': idem } });

  it('creates once and replays the answer, without the once-only secret', async () => {
    const idem = `create-${Date.now()}`;
    const first = await withKey(idem, { name: 'idempotent' });
    expect(first.status).toBe(201);
    const created = (await first.json()) as Key;
    const replay = await withKey(idem, { name: 'idempotent' });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    const replayed = (await replay.json()) as Key;
    expect(replayed.id).toBe(created.id);
    expect(replayed.key).toBeNull();
    const count = await h.testDb.db.query("SELECT count(*) AS n FROM api_keys WHERE name = 'idempotent'");
    expect(Number(count.rows[0]!.n)).toBe(1);
    const stored = await h.testDb.db.query('SELECT response::text AS r FROM idempotency_keys WHERE key = $1', [idem]);
    expect(stored.rows[0]!.r).not.toContain(created.key);
  });

  it('refuses the same key with another body, and frees a key whose request was refused', async () => {
    const idem = `reuse-${Date.now()}`;
    expect((await withKey(idem, { name: 'one' })).status).toBe(201);
    expect((await withKey(idem, { name: 'two' })).status).toBe(409);

    const fixable = `fix-${Date.now()}`;
    expect((await withKey(fixable, { name: 'x', budget_limit: 1 })).status).toBe(422);
    expect((await withKey(fixable, { name: 'x', budget_limit: 1, budget_period: 'daily' })).status).toBe(201);
    expect((await withKey(`bad key ${'x'.repeat(300)}`, { name: 'y' })).status).toBe(422);
  });

  it('forgets keys past their 24 hours, also those never used again', async () => {
    const old = `old-${Date.now()}`;
    const fresh = `fresh-${Date.now()}`;
    expect((await withKey(old, { name: 'old' })).status).toBe(201);
    expect((await withKey(fresh, { name: 'fresh' })).status).toBe(201);
    await h.testDb.db.query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1", [old]);
    expect(await purgeExpiredIdempotencyKeys(h.testDb.db)).toBeGreaterThanOrEqual(1);
    const left = await h.testDb.db.query('SELECT key FROM idempotency_keys WHERE key = ANY($1::text[])', [[old, fresh]]);
    expect(left.rows.map((r) => r.key)).toEqual([fresh]);
  });
});
