// User accounts on a real database: who am I, creation by platform staff, visibility, disabling
// (effective at the next request) and platform roles (taas_owner only; the last one stays).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../shared/ids.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';
import { postgresAvailable } from '../support/db.ts';
import { auditCount, createOrg, expectRefusedWithoutChange, json, manifestVersion } from '../support/identities.ts';

const targets = [...(postgresAvailable() ? (['postgres'] as const) : []), 'pglite'] as const;

type User = { id: string; email: string; status: string; platform_role: string | null; memberships?: { org_id: string; role: string }[]; token?: string };

describe.each(targets)('users on %s', (target) => {
  let h: Harness;
  let orgId: string;
  let ownerId: string;

  beforeAll(async () => {
    h = await createHarness(target);
    orgId = await createOrg(h, 'Users');
    ownerId = (await json<User>(h.request('GET', '/v1/manage/users/me', { token: h.ownerToken }))).id;
  }, 60_000);
  afterAll(() => h?.close());

  const disable = (id: string, token: string) => h.request('POST', `/v1/manage/users/${id}/disable`, { token });
  const enable = (id: string, token: string) => h.request('POST', `/v1/manage/users/${id}/enable`, { token });
  const setRole = (id: string, role: string | null, token: string) => h.request('PUT', `/v1/manage/users/${id}/platform-role`, { token, body: { role } });

  it("answers /users/me with the caller's account, platform role and memberships", async () => {
    const member = await h.addUser({ orgId, orgRole: 'org_admin' });
    const me = await json<User>(h.request('GET', '/v1/manage/users/me', { token: member.token }));
    expect(me).toMatchObject({ id: member.userId, status: 'active', platform_role: null, memberships: [{ org_id: orgId, role: 'org_admin' }] });
    expect((await json<User>(h.request('GET', '/v1/manage/users/me', { token: h.ownerToken }))).platform_role).toBe('taas_owner');
  });

  it('lets platform staff create a user with a first token shown once, once per address', async () => {
    const staff = await h.addUser({ platformRole: 'taas_admin' });
    const email = `made-${uuidv7()}@example.test`;
    const before = await auditCount(h);
    const res = await h.request('POST', '/v1/manage/users', { token: staff.token, body: { email: email.toUpperCase(), name: 'Made' } });
    expect(res.status).toBe(201);
    const made = await json<User>(res);
    expect(made).toMatchObject({ email, status: 'active', platform_role: null });
    expect(made.token).toMatch(/^tpat_/);
    expect(await auditCount(h)).toBe(before + 1);
    expect((await json<User>(h.request('GET', '/v1/manage/users/me', { token: made.token! }))).id).toBe(made.id);

    await expectRefusedWithoutChange(h, 409, () => h.request('POST', '/v1/manage/users', { token: staff.token, body: { email, name: 'Again' } }));
    const orgOwner = await h.addUser({ orgId, orgRole: 'org_owner' });
    await expectRefusedWithoutChange(h, 403, () => h.request('POST', '/v1/manage/users', { token: orgOwner.token, body: { email: `x-${email}` } }));
  });

  it('shows other users only to platform staff, and a foreign user like a missing one', async () => {
    const orgOwner = await h.addUser({ orgId, orgRole: 'org_owner' });
    const colleague = await h.addUser({ orgId, orgRole: 'user' });
    const missing = '0190a000-0000-7000-8000-0000000000dd';
    const read = (id: string, token: string) => h.request('GET', `/v1/manage/users/${id}`, { token });
    expect((await read(orgOwner.userId, orgOwner.token)).status).toBe(200);
    const foreign = await expectRefusedWithoutChange(h, 404, () => read(colleague.userId, orgOwner.token));
    expect(foreign).toEqual(await expectRefusedWithoutChange(h, 404, () => read(missing, orgOwner.token)));
    await expectRefusedWithoutChange(h, 403, () => h.request('GET', '/v1/manage/users', { token: orgOwner.token }));

    const staff = await h.addUser({ platformRole: 'taas_admin' });
    expect((await json<User>(read(colleague.userId, staff.token))).memberships).toEqual([{ org_id: orgId, org_name: 'Users', role: 'user' }]);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { data: User[]; next_cursor: string | null } = await json(h.request('GET', `/v1/manage/users?limit=2${cursor ? `&after=${cursor}` : ''}`, { token: staff.token }));
      seen.push(...page.data.map((u) => u.id));
      cursor = page.next_cursor;
    } while (cursor);
    const total = Number((await h.testDb.db.query('SELECT count(*) AS n FROM users')).rows[0]!.n);
    expect(new Set(seen).size).toBe(total);
  });

  it('cuts a disabled user off at their next request and lets them back in once enabled', async () => {
    const staff = await h.addUser({ platformRole: 'taas_admin' });
    const victim = await h.addUser({ orgId, orgRole: 'org_owner' });
    expect((await h.request('GET', `/v1/manage/orgs/${orgId}`, { token: victim.token })).status).toBe(200);
    const [audit, version] = [await auditCount(h), await manifestVersion(h)];
    expect((await json<User>(disable(victim.userId, staff.token))).status).toBe('disabled');
    expect(await auditCount(h)).toBe(audit + 1);
    expect(await manifestVersion(h)).toBeGreaterThan(version);
    expect((await h.request('GET', `/v1/manage/orgs/${orgId}`, { token: victim.token })).status).toBe(401);
    expect((await disable(victim.userId, staff.token)).status).toBe(200);
    expect(await auditCount(h)).toBe(audit + 1);

    expect((await json<User>(enable(victim.userId, staff.token))).status).toBe('active');
    expect((await h.request('GET', `/v1/manage/orgs/${orgId}`, { token: victim.token })).status).toBe(200);
  });

  it('lets nobody disable themself, a taas_admin no taas_owner, and an org owner nobody', async () => {
    const staff = await h.addUser({ platformRole: 'taas_admin' });
    const orgOwner = await h.addUser({ orgId, orgRole: 'org_owner' });
    const plain = await h.addUser({ orgId, orgRole: 'user' });
    await expectRefusedWithoutChange(h, 403, () => disable(staff.userId, staff.token));
    await expectRefusedWithoutChange(h, 403, () => disable(ownerId, h.ownerToken));
    await expectRefusedWithoutChange(h, 403, () => disable(ownerId, staff.token));
    await expectRefusedWithoutChange(h, 404, () => disable(plain.userId, orgOwner.token));
    await expectRefusedWithoutChange(h, 403, () => disable(orgOwner.userId, orgOwner.token));
  });

  it('lets only a taas_owner change platform roles, effective at the next request', async () => {
    const staff = await h.addUser({ platformRole: 'taas_admin' });
    const someone = await h.addUser({ orgId, orgRole: 'user' });
    await expectRefusedWithoutChange(h, 403, () => setRole(someone.userId, 'taas_admin', staff.token));
    await expectRefusedWithoutChange(h, 403, () => setRole(staff.userId, 'taas_owner', staff.token));
    await expectRefusedWithoutChange(h, 404, () => setRole(staff.userId, null, someone.token));
    await expectRefusedWithoutChange(h, 422, () => setRole(someone.userId, 'org_owner', h.ownerToken));

    expect((await h.request('GET', '/v1/manage/users', { token: someone.token })).status).toBe(403);
    const before = await auditCount(h);
    expect((await json<User>(setRole(someone.userId, 'taas_admin', h.ownerToken))).platform_role).toBe('taas_admin');
    expect(await auditCount(h)).toBe(before + 1);
    expect((await h.request('GET', '/v1/manage/users', { token: someone.token })).status).toBe(200);
    expect((await setRole(someone.userId, 'taas_admin', h.ownerToken)).status).toBe(200);
    expect(await auditCount(h)).toBe(before + 1);
    await setRole(someone.userId, null, h.ownerToken);
    expect((await h.request('GET', '/v1/manage/users', { token: someone.token })).status).toBe(403);
  });

  it('never demotes or disables the last active taas_owner', async () => {
    const second = await h.addUser({ platformRole: 'taas_owner' });
    expect((await setRole(ownerId, 'taas_admin', second.token)).status).toBe(200);
    // `second` is now the only taas_owner.
    await expectRefusedWithoutChange(h, 409, () => setRole(second.userId, 'taas_admin', second.token));
    await expectRefusedWithoutChange(h, 409, () => setRole(second.userId, null, second.token));
    await expectRefusedWithoutChange(h, 403, () => disable(second.userId, h.ownerToken));
    expect((await setRole(ownerId, 'taas_owner', second.token)).status).toBe(200);

    // A disabled owner does not count: with `second` disabled, the bootstrap owner is the last.
    expect((await disable(second.userId, h.ownerToken)).status).toBe(200);
    await expectRefusedWithoutChange(h, 409, () => setRole(ownerId, null, h.ownerToken));
    expect((await enable(second.userId, h.ownerToken)).status).toBe(200);
    expect((await setRole(second.userId, null, h.ownerToken)).status).toBe(200);
  });
});

describe.skipIf(!postgresAvailable())('platform owners under concurrency (PostgreSQL)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness('postgres');
  }, 60_000);
  afterAll(() => h?.close());

  it('keeps one active taas_owner when two owners demote each other at the same moment', async () => {
    const bootstrapId = (await json<User>(h.request('GET', '/v1/manage/users/me', { token: h.ownerToken }))).id;
    for (let round = 0; round < 5; round++) {
      const a = await h.addUser({ platformRole: 'taas_owner' });
      const b = await h.addUser({ platformRole: 'taas_owner' });
      // Only a and b are owners during the race.
      await h.testDb.db.query("UPDATE users SET platform_role = 'taas_admin' WHERE id = $1", [bootstrapId]);
      const answers = await Promise.all([
        h.request('PUT', `/v1/manage/users/${b.userId}/platform-role`, { token: a.token, body: { role: null } }),
        h.request('PUT', `/v1/manage/users/${a.userId}/platform-role`, { token: b.token, body: { role: null } }),
      ]);
      expect(answers.filter((r) => r.status === 200)).toHaveLength(1);
      const owners = await h.testDb.db.query("SELECT id FROM users WHERE platform_role = 'taas_owner' AND status = 'active'");
      expect(owners.rowCount).toBe(1);
      await h.testDb.db.query("UPDATE users SET platform_role = 'taas_owner' WHERE id = $1", [bootstrapId]);
      await h.testDb.db.query('UPDATE users SET platform_role = NULL WHERE id = ANY($1::uuid[])', [[a.userId, b.userId]]);
    }
  });
});
