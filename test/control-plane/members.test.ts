// Org members on a real database: listing, roles (nobody grants above their own; admins do not
// touch owners; the last owner stays), per-user limits in exact micro-USD, and removal that
// takes access away at the next request.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../support/control-plane.ts';
import { postgresAvailable } from '../support/db.ts';
import { auditCount, createOrg, expectRefusedWithoutChange, json, manifestVersion } from '../support/identities.ts';

const targets = [...(postgresAvailable() ? (['postgres'] as const) : []), 'pglite'] as const;

type Member = { user_id: string; role: string; budget_limit: number | null; budget_limit_micros: number | null; budget_period: string | null; allowed_regions: string[]; allowed_models: string[] };
type Account = { userId: string; token: string };

describe.each(targets)('org members on %s', (target) => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness(target);
  }, 60_000);
  afterAll(() => h?.close());

  /** A fresh org with one owner, one admin and one plain user. */
  async function team(): Promise<{ orgId: string; owner: Account; admin: Account; user: Account }> {
    const orgId = await createOrg(h, 'Team');
    return {
      orgId,
      owner: await h.addUser({ orgId, orgRole: 'org_owner' }),
      admin: await h.addUser({ orgId, orgRole: 'org_admin' }),
      user: await h.addUser({ orgId, orgRole: 'user' }),
    };
  }
  const patch = (orgId: string, userId: string, body: unknown, token: string) => h.request('PATCH', `/v1/manage/orgs/${orgId}/members/${userId}`, { token, body });
  const remove = (orgId: string, userId: string, token: string) => h.request('DELETE', `/v1/manage/orgs/${orgId}/members/${userId}`, { token });
  const list = (orgId: string, token: string) => json<{ data: Member[] }>(h.request('GET', `/v1/manage/orgs/${orgId}/members`, { token }));

  it('refuses an org_admin lifting their own limits or role, and lets an owner set them', async () => {
    const { orgId, owner, admin } = await team();
    expect((await patch(orgId, admin.userId, { budget_limit: 1, budget_period: 'daily', allowed_models: ['m1'] }, owner.token)).status).toBe(200);
    for (const body of [{ budget_limit: null, budget_period: null }, { allowed_models: [] }, { role: 'user' }]) {
      const error = await expectRefusedWithoutChange(h, 403, () => patch(orgId, admin.userId, body, admin.token));
      expect(error.message).toMatch(/org_owner/);
    }
    expect((await patch(orgId, owner.userId, { budget_limit: 5, budget_period: 'monthly' }, owner.token)).status).toBe(200);
  });

  it('lists every member to owners and admins, and a plain user only themself', async () => {
    const { orgId, owner, admin, user } = await team();
    expect((await list(orgId, admin.token)).data.map((m) => m.user_id).sort()).toEqual([owner.userId, admin.userId, user.userId].sort());
    expect((await list(orgId, user.token)).data.map((m) => m.user_id)).toEqual([user.userId]);
  });

  it('sets a per-user budget in USD, stored as exact micro-USD, and clears it again', async () => {
    const { orgId, admin, user } = await team();
    const [audit, version] = [await auditCount(h), await manifestVersion(h)];
    const res = await patch(orgId, user.userId, { budget_limit: 500.0, budget_period: 'monthly', allowed_regions: ['EU'], allowed_models: ['gpt-4o'] }, admin.token);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ budget_limit: 500, budget_limit_micros: 500_000_000, budget_period: 'monthly', allowed_regions: ['EU'], allowed_models: ['gpt-4o'] });
    expect(await auditCount(h)).toBe(audit + 1);
    expect(await manifestVersion(h)).toBeGreaterThan(version);

    expect(await json(patch(orgId, user.userId, { budget_limit: 0.1 }, admin.token))).toMatchObject({ budget_limit: 0.1, budget_limit_micros: 100_000, budget_period: 'monthly' });
    const stored = await h.testDb.db.query('SELECT budget_limit_micros::text AS micros FROM org_members WHERE org_id = $1 AND user_id = $2', [orgId, user.userId]);
    expect(stored.rows[0]!.micros).toBe('100000');

    for (const [body, param] of [
      [{ budget_limit: 1.2345678 }, 'budget_limit'],
      [{ budget_limit: -1 }, 'budget_limit'],
      [{ budget_limit: 1e12 }, 'budget_limit'],
      [{ budget_period: null }, 'budget_period'],
      [{ allowed_regions: ['MARS'] }, 'allowed_regions.0'],
      [{ role: 'taas_owner' }, 'role'],
      [{ nickname: 'x' }, null],
    ] as const) {
      const error = await expectRefusedWithoutChange(h, 422, () => patch(orgId, user.userId, body, admin.token));
      if (param) expect(error.param).toBe(param);
    }

    expect(await json(patch(orgId, user.userId, { budget_limit: null }, admin.token))).toMatchObject({ budget_limit: null, budget_limit_micros: null, budget_period: null });
  });

  it('changes nothing and writes no audit row for a PATCH that changes nothing', async () => {
    const { orgId, admin, user } = await team();
    await patch(orgId, user.userId, { allowed_models: ['a'] }, admin.token);
    const before = await auditCount(h);
    for (const body of [{}, { allowed_models: ['a'] }, { role: 'user' }]) {
      expect((await patch(orgId, user.userId, body, admin.token)).status).toBe(200);
    }
    expect(await auditCount(h)).toBe(before);
  });

  it('lets nobody grant a role above their own, and keeps org admins away from owners', async () => {
    const { orgId, owner, admin, user } = await team();
    await expectRefusedWithoutChange(h, 403, () => patch(orgId, user.userId, { role: 'org_owner' }, admin.token));
    await expectRefusedWithoutChange(h, 403, () => patch(orgId, admin.userId, { role: 'org_owner' }, admin.token));
    await expectRefusedWithoutChange(h, 403, () => patch(orgId, owner.userId, { budget_limit: 1, budget_period: 'daily' }, admin.token));
    await expectRefusedWithoutChange(h, 403, () => remove(orgId, owner.userId, admin.token));
    await expectRefusedWithoutChange(h, 403, () => patch(orgId, user.userId, { budget_limit: 999, budget_period: 'daily' }, user.token));
    expect((await json<Member>(patch(orgId, user.userId, { role: 'org_admin' }, admin.token))).role).toBe('org_admin');
    expect((await json<Member>(patch(orgId, user.userId, { role: 'org_owner' }, owner.token))).role).toBe('org_owner');
  });

  it('never removes or demotes the last org owner, whoever asks', async () => {
    const { orgId, owner, admin } = await team();
    const staff = await h.addUser({ platformRole: 'taas_admin' });
    await expectRefusedWithoutChange(h, 409, () => patch(orgId, owner.userId, { role: 'org_admin' }, owner.token));
    await expectRefusedWithoutChange(h, 409, () => remove(orgId, owner.userId, owner.token));
    await expectRefusedWithoutChange(h, 409, () => remove(orgId, owner.userId, staff.token));

    // A disabled second owner does not count.
    expect((await patch(orgId, admin.userId, { role: 'org_owner' }, owner.token)).status).toBe(200);
    await h.testDb.db.query("UPDATE users SET status = 'disabled' WHERE id = $1", [admin.userId]);
    await expectRefusedWithoutChange(h, 409, () => remove(orgId, owner.userId, owner.token));
    await h.testDb.db.query("UPDATE users SET status = 'active' WHERE id = $1", [admin.userId]);
    expect((await remove(orgId, owner.userId, owner.token)).status).toBe(204);
  });

  it('takes a removed member’s access away at their next request', async () => {
    const { orgId, admin, user } = await team();
    expect((await h.request('GET', `/v1/manage/orgs/${orgId}`, { token: user.token })).status).toBe(200);
    const [audit, version] = [await auditCount(h), await manifestVersion(h)];
    const res = await remove(orgId, user.userId, admin.token);
    expect(res.status).toBe(204);
    expect(await auditCount(h)).toBe(audit + 1);
    expect(await manifestVersion(h)).toBeGreaterThan(version);
    expect((await h.request('GET', `/v1/manage/orgs/${orgId}`, { token: user.token })).status).toBe(404);
    expect((await h.request('GET', `/v1/manage/keys?org_id=${orgId}`, { token: user.token })).status).toBe(404);
    expect((await h.request('GET', `/v1/manage/orgs/${orgId}/members`, { token: user.token })).status).toBe(404);
  });

  it('takes a demoted admin’s powers away at their next request', async () => {
    const { orgId, owner, admin } = await team();
    expect((await h.request('GET', `/v1/manage/orgs/${orgId}/invitations`, { token: admin.token })).status).toBe(200);
    expect((await patch(orgId, admin.userId, { role: 'user' }, owner.token)).status).toBe(200);
    expect((await h.request('GET', `/v1/manage/orgs/${orgId}/invitations`, { token: admin.token })).status).toBe(403);
  });

  it('revokes the keys a removed member owned in the org, so rejoining does not revive them', async () => {
    const { orgId, admin, user } = await team();
    const created = await h.request('POST', '/v1/manage/keys', { token: user.token, body: { org_id: orgId, name: 'mine' } });
    const key = (await created.json()) as { id: string };
    expect((await remove(orgId, user.userId, admin.token)).status).toBe(204);
    const row = await h.testDb.db.query('SELECT status FROM api_keys WHERE id = $1', [key.id]);
    expect(row.rows[0]!.status).toBe('revoked');
    const audit = await h.testDb.db.query("SELECT after FROM audit_log WHERE action = 'member.remove' AND target_id = $1 ORDER BY id DESC LIMIT 1", [user.userId]);
    expect(audit.rows[0]!.after).toEqual({ revoked_api_keys: [key.id] });
  });

  it('lets a member leave an org themself', async () => {
    const { orgId, user } = await team();
    expect((await remove(orgId, user.userId, user.token)).status).toBe(204);
    expect((await h.request('GET', `/v1/manage/orgs/${orgId}`, { token: user.token })).status).toBe(404);
  });

  it("answers another org's members, and members a plain user may not see, exactly like missing ones", async () => {
    const mine = await team();
    const theirs = await team();
    const missing = '0190a000-0000-7000-8000-0000000000ee';
    const foreignOrg = await expectRefusedWithoutChange(h, 404, () => patch(theirs.orgId, theirs.user.userId, { role: 'user' }, mine.admin.token));
    expect(foreignOrg).toEqual(await expectRefusedWithoutChange(h, 404, () => patch(missing, theirs.user.userId, { role: 'user' }, mine.admin.token)));
    expect(await expectRefusedWithoutChange(h, 404, () => remove(theirs.orgId, theirs.user.userId, mine.admin.token))).toEqual(foreignOrg);
    expect(await expectRefusedWithoutChange(h, 404, () => h.request('GET', `/v1/manage/orgs/${theirs.orgId}/members`, { token: mine.admin.token }))).toEqual(foreignOrg);

    const notMember = await expectRefusedWithoutChange(h, 404, () => patch(mine.orgId, theirs.user.userId, { role: 'user' }, mine.admin.token));
    expect(notMember).toEqual(await expectRefusedWithoutChange(h, 404, () => patch(mine.orgId, missing, { role: 'user' }, mine.admin.token)));
    expect(await expectRefusedWithoutChange(h, 404, () => remove(mine.orgId, mine.admin.userId, mine.user.token))).toEqual(notMember);
  });
});

describe.skipIf(!postgresAvailable())('org owners under concurrency (PostgreSQL)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness('postgres');
  }, 60_000);
  afterAll(() => h?.close());

  it('keeps one owner when two owners remove each other at the same moment', async () => {
    for (let round = 0; round < 5; round++) {
      const orgId = await createOrg(h, `Race ${round}`);
      const a = await h.addUser({ orgId, orgRole: 'org_owner' });
      const b = await h.addUser({ orgId, orgRole: 'org_owner' });
      const answers = await Promise.all([
        h.request('DELETE', `/v1/manage/orgs/${orgId}/members/${b.userId}`, { token: a.token }),
        h.request('DELETE', `/v1/manage/orgs/${orgId}/members/${a.userId}`, { token: b.token }),
      ]);
      expect(answers.filter((r) => r.status === 204)).toHaveLength(1);
      const owners = await h.testDb.db.query("SELECT user_id FROM org_members WHERE org_id = $1 AND role = 'org_owner'", [orgId]);
      expect(owners.rowCount).toBe(1);
    }
  });
});
