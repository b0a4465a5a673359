// Invitation lifecycle on a real database: create → accept → membership; expiry, revocation,
// reuse, and the rule that only a new account may be created by the invitation token alone.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, hashToken } from '../../shared/api-key.ts';
import { uuidv7 } from '../../shared/ids.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';
import { postgresAvailable } from '../support/db.ts';
import { auditCount, createOrg, expectRefusedWithoutChange, json } from '../support/identities.ts';

const targets = [...(postgresAvailable() ? (['postgres'] as const) : []), 'pglite'] as const;

type Invitation = { id: string; token: string; status: string; role: string; email: string; expires_at: string };
type Acceptance = { token: string | null; user: { id: string; email: string }; member: { role: string; org_id: string }; invitation: { status: string } };

describe.each(targets)('invitations on %s', (target) => {
  let h: Harness;
  let orgId: string;
  let admin: { userId: string; token: string };

  beforeAll(async () => {
    h = await createHarness(target);
    orgId = await createOrg(h, 'Inviting');
    admin = await h.addUser({ orgId, orgRole: 'org_admin' });
  }, 60_000);
  afterAll(() => h?.close());

  const freshEmail = () => `invitee-${uuidv7()}@example.test`;
  const invite = async (body: Record<string, unknown>, options: { token?: string; org?: string } = {}) =>
    h.request('POST', `/v1/manage/orgs/${options.org ?? orgId}/invitations`, { token: options.token ?? admin.token, body });
  const created = async (body: Record<string, unknown>, options: { token?: string; org?: string } = {}) => {
    const res = await invite(body, options);
    expect(res.status).toBe(201);
    return json<Invitation>(res);
  };
  const accept = (body: Record<string, unknown>, token?: string) => h.request('POST', '/v1/manage/invitations/accept', { body, ...(token ? { token } : {}) });

  it('creates the account, the membership and a first management token when a new address accepts', async () => {
    const email = freshEmail();
    const invitation = await created({ email, role: 'user' });
    expect(invitation.token).toMatch(/^tinv_[0-9A-Za-z]{38}$/);
    expect(invitation.status).toBe('pending');
    const stored = await h.testDb.db.query('SELECT token_hash FROM invitations WHERE id = $1', [invitation.id]);
    expect(stored.rows[0]!.token_hash).toBe(await hashToken(invitation.token));

    const before = await auditCount(h);
    const res = await accept({ token: invitation.token, name: 'New Person' });
    expect(res.status).toBe(200);
    const accepted = await json<Acceptance>(res);
    expect(accepted.token).toMatch(/^tpat_/);
    expect(accepted.user.email).toBe(email);
    expect(accepted.member).toMatchObject({ org_id: orgId, role: 'user' });
    expect(accepted.invitation.status).toBe('accepted');
    expect(await auditCount(h)).toBe(before + 1);

    const me = await json<{ id: string; name: string; memberships: { org_id: string; role: string }[] }>(h.request('GET', '/v1/manage/users/me', { token: accepted.token! }));
    expect(me).toMatchObject({ id: accepted.user.id, name: 'New Person', memberships: [{ org_id: orgId, role: 'user' }] });
    // Neither raw token is anywhere in the database.
    const dump = await h.testDb.db.query(`SELECT (SELECT json_agg(i) FROM invitations i)::text || (SELECT json_agg(t) FROM admin_tokens t)::text || (SELECT json_agg(a) FROM audit_log a)::text AS everything`);
    expect(dump.rows[0]!.everything).not.toContain(invitation.token);
    expect(dump.rows[0]!.everything).not.toContain(accepted.token);
  });

  it('answers one identical 404 for a used, revoked, expired, unknown or malformed invitation token', async () => {
    const used = await created({ email: freshEmail(), role: 'user' });
    expect((await accept({ token: used.token })).status).toBe(200);
    const revoked = await created({ email: freshEmail(), role: 'user' });
    expect((await h.request('POST', `/v1/manage/invitations/${revoked.id}/revoke`, { token: admin.token })).status).toBe(200);
    const expired = await created({ email: freshEmail(), role: 'user' });
    await h.testDb.db.query("UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = $1", [expired.id]);

    const answers = [];
    for (const token of [used.token, revoked.token, expired.token, generateToken('invitation'), 'tinv_nope']) {
      answers.push(await expectRefusedWithoutChange(h, 404, () => accept({ token })));
    }
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    const listed = await json<{ data: { id: string; status: string }[] }>(h.request('GET', `/v1/manage/orgs/${orgId}/invitations?limit=100`, { token: admin.token }));
    const status = (id: string) => listed.data.find((i) => i.id === id)?.status;
    expect([status(used.id), status(revoked.id), status(expired.id)]).toEqual(['accepted', 'revoked', 'expired']);
  });

  it('stops an invitation whose inviter may no longer grant its role: removed, demoted or disabled', async () => {
    const owner = await h.addUser({ orgId, orgRole: 'org_owner' });
    const removed = await h.addUser({ orgId, orgRole: 'org_admin' });
    const demoted = await h.addUser({ orgId, orgRole: 'org_admin' });
    const disabled = await h.addUser({ orgId, orgRole: 'org_admin' });
    const byRemoved = await created({ email: freshEmail(), role: 'org_admin' }, { token: removed.token });
    const byDemoted = await created({ email: freshEmail(), role: 'user' }, { token: demoted.token });
    const byDisabled = await created({ email: freshEmail(), role: 'user' }, { token: disabled.token });
    const stillGood = await created({ email: freshEmail(), role: 'user' }, { token: owner.token });
    expect((await h.request('DELETE', `/v1/manage/orgs/${orgId}/members/${removed.userId}`, { token: owner.token })).status).toBe(204);
    expect((await h.request('PATCH', `/v1/manage/orgs/${orgId}/members/${demoted.userId}`, { token: owner.token, body: { role: 'user' } })).status).toBe(200);
    await h.testDb.db.query("UPDATE users SET status = 'disabled' WHERE id = $1", [disabled.userId]);
    for (const invitation of [byRemoved, byDemoted, byDisabled]) {
      await expectRefusedWithoutChange(h, 404, () => accept({ token: invitation.token }));
    }
    expect((await accept({ token: stillGood.token })).status).toBe(200);
  });

  it("requires an existing account's own management token to accept, so an inviter cannot mint one", async () => {
    const existing = await h.addUser({});
    const email = `${existing.userId}@example.test`;
    const invitation = await created({ email: email.toUpperCase(), role: 'org_admin' });
    const tokensOf = async () => (await h.testDb.db.query('SELECT count(*) AS n FROM admin_tokens WHERE user_id = $1', [existing.userId])).rows[0]!.n;
    const tokensBefore = await tokensOf();

    await expectRefusedWithoutChange(h, 401, () => accept({ token: invitation.token }));
    await expectRefusedWithoutChange(h, 403, () => accept({ token: invitation.token }, admin.token));
    await expectRefusedWithoutChange(h, 401, () => accept({ token: invitation.token }, `tpat_${'A'.repeat(38)}`));

    const res = await accept({ token: invitation.token }, existing.token);
    expect(res.status).toBe(200);
    const accepted = await json<Acceptance>(res);
    expect(accepted.token).toBeNull();
    expect(accepted.user.id).toBe(existing.userId);
    expect(accepted.member.role).toBe('org_admin');
    expect(await tokensOf()).toBe(tokensBefore);
  });

  it('answers 409 when the invitee is already a member, and changes nothing', async () => {
    const member = await h.addUser({ orgId, orgRole: 'user' });
    await expectRefusedWithoutChange(h, 409, () => invite({ email: `${member.userId}@example.test`, role: 'user' }));

    const later = await h.addUser({});
    const invitation = await created({ email: `${later.userId}@example.test`, role: 'user' });
    await h.testDb.db.query("INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'user')", [orgId, later.userId]);
    await expectRefusedWithoutChange(h, 409, () => accept({ token: invitation.token }, later.token));
  });

  it('refuses a second pending invitation for the same address', async () => {
    const email = freshEmail();
    await created({ email, role: 'user' });
    await expectRefusedWithoutChange(h, 409, () => invite({ email: email.toUpperCase(), role: 'user' }));
  });

  it('lets an org admin invite only org_admin or user, a plain user nobody, and an owner any org role', async () => {
    const owner = await h.addUser({ orgId, orgRole: 'org_owner' });
    const plain = await h.addUser({ orgId, orgRole: 'user' });
    await expectRefusedWithoutChange(h, 403, () => invite({ email: freshEmail(), role: 'org_owner' }));
    await expectRefusedWithoutChange(h, 403, () => invite({ email: freshEmail(), role: 'user' }, { token: plain.token }));
    await expectRefusedWithoutChange(h, 403, () => h.request('GET', `/v1/manage/orgs/${orgId}/invitations`, { token: plain.token }));
    expect((await created({ email: freshEmail(), role: 'org_admin' })).role).toBe('org_admin');
    expect((await created({ email: freshEmail(), role: 'org_owner' }, { token: owner.token })).role).toBe('org_owner');
  });

  it('does not let an org admin revoke an invitation to org_owner', async () => {
    const owner = await h.addUser({ orgId, orgRole: 'org_owner' });
    const forOwner = await created({ email: freshEmail(), role: 'org_owner' }, { token: owner.token });
    await expectRefusedWithoutChange(h, 403, () => h.request('POST', `/v1/manage/invitations/${forOwner.id}/revoke`, { token: admin.token }));
  });

  it("answers another org's invitations exactly like missing ones", async () => {
    const otherOrg = await createOrg(h, 'Elsewhere');
    const foreign = await created({ email: freshEmail(), role: 'user' }, { token: h.ownerToken, org: otherOrg });
    const mine = await created({ email: freshEmail(), role: 'user' });
    const plain = await h.addUser({ orgId, orgRole: 'user' });
    const missing = '0190a000-0000-7000-8000-0000000000bb';

    const revokeForeign = await expectRefusedWithoutChange(h, 404, () => h.request('POST', `/v1/manage/invitations/${foreign.id}/revoke`, { token: admin.token }));
    const revokeMissing = await expectRefusedWithoutChange(h, 404, () => h.request('POST', `/v1/manage/invitations/${missing}/revoke`, { token: admin.token }));
    expect(revokeForeign).toEqual(revokeMissing);
    // A plain member does not see their own org's invitations either.
    expect(await expectRefusedWithoutChange(h, 404, () => h.request('POST', `/v1/manage/invitations/${mine.id}/revoke`, { token: plain.token }))).toEqual(revokeMissing);

    const listForeign = await expectRefusedWithoutChange(h, 404, () => h.request('GET', `/v1/manage/orgs/${otherOrg}/invitations`, { token: admin.token }));
    const listMissing = await expectRefusedWithoutChange(h, 404, () => h.request('GET', `/v1/manage/orgs/${missing}/invitations`, { token: admin.token }));
    expect(listForeign).toEqual(listMissing);
    expect(await expectRefusedWithoutChange(h, 404, () => invite({ email: freshEmail(), role: 'user' }, { org: otherOrg }))).toEqual(listMissing);
  });

  it('revokes once: a second revoke writes nothing, and an accepted invitation cannot be revoked', async () => {
    const invitation = await created({ email: freshEmail(), role: 'user' });
    const before = await auditCount(h);
    const first = await h.request('POST', `/v1/manage/invitations/${invitation.id}/revoke`, { token: admin.token });
    expect((await json<{ status: string }>(first)).status).toBe('revoked');
    expect(await auditCount(h)).toBe(before + 1);
    const second = await h.request('POST', `/v1/manage/invitations/${invitation.id}/revoke`, { token: admin.token });
    expect(second.status).toBe(200);
    expect(await auditCount(h)).toBe(before + 1);

    const acceptedOne = await created({ email: freshEmail(), role: 'user' });
    expect((await accept({ token: acceptedOne.token })).status).toBe(200);
    await expectRefusedWithoutChange(h, 409, () => h.request('POST', `/v1/manage/invitations/${acceptedOne.id}/revoke`, { token: admin.token }));
  });

  it('expires after expires_in_hours (1 to 720, 168 by default)', async () => {
    const start = Date.now();
    const oneHour = await created({ email: freshEmail(), role: 'user', expires_in_hours: 1 });
    expect(Date.parse(oneHour.expires_at) - start).toBeGreaterThan(3_590_000);
    expect(Date.parse(oneHour.expires_at) - start).toBeLessThan(3_610_000);
    const byDefault = await created({ email: freshEmail(), role: 'user' });
    expect(Math.round((Date.parse(byDefault.expires_at) - start) / 3_600_000)).toBe(168);
    for (const hours of [0, 721, 1.5]) {
      await expectRefusedWithoutChange(h, 422, () => invite({ email: freshEmail(), role: 'user', expires_in_hours: hours }));
    }
    await expectRefusedWithoutChange(h, 422, () => invite({ email: 'not-an-address', role: 'user' }));
  });

  it('lists invitations with their status and never their token', async () => {
    const invitation = await created({ email: freshEmail(), role: 'user' });
    const res = await h.request('GET', `/v1/manage/orgs/${orgId}/invitations?limit=100`, { token: admin.token });
    const text = await res.text();
    expect(text).not.toContain(invitation.token);
    const page = JSON.parse(text) as { object: string; data: { id: string; status: string; token?: string }[] };
    expect(page.object).toBe('list');
    expect(page.data.find((i) => i.id === invitation.id)).toMatchObject({ status: 'pending' });
    expect(page.data.every((i) => i.token === undefined)).toBe(true);
  });
});
