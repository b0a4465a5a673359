// Personal access tokens on a real database: create (shown once), use, list, revoke, expire; a
// token carries its user's current roles, never more.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../shared/api-key.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';
import { postgresAvailable } from '../support/db.ts';
import { auditCount, createOrg, expectRefusedWithoutChange, json } from '../support/identities.ts';

const targets = [...(postgresAvailable() ? (['postgres'] as const) : []), 'pglite'] as const;

type Token = { id: string; token: string; prefix: string; status: string; user_id: string; last_used_at: string | null; expires_at: string | null };

describe.each(targets)('management tokens on %s', (target) => {
  let h: Harness;
  let orgId: string;

  beforeAll(async () => {
    h = await createHarness(target);
    orgId = await createOrg(h, 'Tokens');
  }, 60_000);
  afterAll(() => h?.close());

  const create = async (token: string, body: Record<string, unknown> = { name: 'laptop' }) => {
    const res = await h.request('POST', '/v1/manage/tokens', { token, body });
    expect(res.status).toBe(201);
    return json<Token>(res);
  };
  const me = (token: string) => h.request('GET', '/v1/manage/users/me', { token });

  it('creates a token shown once, stored only as its SHA-256, usable at once', async () => {
    const alice = await h.addUser({ orgId, orgRole: 'user' });
    const before = await auditCount(h);
    const created = await create(alice.token, { name: 'ci' });
    expect(created.token).toMatch(/^tpat_[0-9A-Za-z]{38}$/);
    expect(created.prefix).toBe(created.token.slice(0, 13));
    expect(created).toMatchObject({ user_id: alice.userId, status: 'active', last_used_at: null });
    expect(await auditCount(h)).toBe(before + 1);
    const stored = await h.testDb.db.query('SELECT token_hash FROM admin_tokens WHERE id = $1', [created.id]);
    expect(stored.rows[0]!.token_hash).toBe(await hashToken(created.token));

    expect((await me(created.token)).status).toBe(200);
    const listing = await (await h.request('GET', '/v1/manage/tokens', { token: alice.token })).text();
    expect(listing).not.toContain(created.token);
    const page = JSON.parse(listing) as { data: Token[] };
    const listed = page.data.find((t) => t.id === created.id)!;
    expect(listed.prefix).toBe(created.prefix);
    expect(listed.last_used_at).not.toBeNull();
  });

  it('refuses the next request made with a revoked token, and a second revoke writes nothing', async () => {
    const bob = await h.addUser({ orgId, orgRole: 'user' });
    const created = await create(bob.token);
    expect((await me(created.token)).status).toBe(200);
    const before = await auditCount(h);
    const revoked = await h.request('POST', `/v1/manage/tokens/${created.id}/revoke`, { token: bob.token });
    expect((await json<Token>(revoked)).status).toBe('revoked');
    expect((await me(created.token)).status).toBe(401);
    expect((await h.request('POST', `/v1/manage/tokens/${created.id}/revoke`, { token: bob.token })).status).toBe(200);
    expect(await auditCount(h)).toBe(before + 1);
    expect((await me(bob.token)).status).toBe(200);
  });

  it('refuses a token past its expiry, and an expiry in the past at creation', async () => {
    const carol = await h.addUser({ orgId, orgRole: 'user' });
    const created = await create(carol.token, { name: 'short', expires_at: new Date(Date.now() + 3_600_000).toISOString() });
    expect((await me(created.token)).status).toBe(200);
    await h.testDb.db.query("UPDATE admin_tokens SET expires_at = now() - interval '1 second' WHERE id = $1", [created.id]);
    expect((await me(created.token)).status).toBe(401);
    const listed = await json<{ data: Token[] }>(h.request('GET', '/v1/manage/tokens', { token: carol.token }));
    expect(listed.data.find((t) => t.id === created.id)!.status).toBe('expired');
    await expectRefusedWithoutChange(h, 422, () => h.request('POST', '/v1/manage/tokens', { token: carol.token, body: { name: 'old', expires_at: '2001-01-01T00:00:00Z' } }));
    await expectRefusedWithoutChange(h, 422, () => h.request('POST', '/v1/manage/tokens', { token: carol.token, body: { name: '' } }));
  });

  it("lists only the caller's own tokens", async () => {
    const dave = await h.addUser({ orgId, orgRole: 'org_owner' });
    const erin = await h.addUser({ orgId, orgRole: 'user' });
    const erins = await create(erin.token);
    const page = await json<{ data: Token[] }>(h.request('GET', '/v1/manage/tokens?limit=100', { token: dave.token }));
    expect(page.data.length).toBeGreaterThan(0);
    expect(page.data.every((t) => t.user_id === dave.userId)).toBe(true);
    expect(page.data.some((t) => t.id === erins.id)).toBe(false);
  });

  it("answers another user's token like a missing one, and lets platform staff revoke any within reach", async () => {
    const frank = await h.addUser({ orgId, orgRole: 'org_owner' });
    const grace = await h.addUser({ orgId, orgRole: 'user' });
    const graces = await create(grace.token);
    const missing = '0190a000-0000-7000-8000-0000000000cc';
    const foreign = await expectRefusedWithoutChange(h, 404, () => h.request('POST', `/v1/manage/tokens/${graces.id}/revoke`, { token: frank.token }));
    expect(foreign).toEqual(await expectRefusedWithoutChange(h, 404, () => h.request('POST', `/v1/manage/tokens/${missing}/revoke`, { token: frank.token })));

    const staff = await h.addUser({ platformRole: 'taas_admin' });
    expect((await h.request('POST', `/v1/manage/tokens/${graces.id}/revoke`, { token: staff.token })).status).toBe(200);
    expect((await me(graces.token)).status).toBe(401);

    const owners = await create(h.ownerToken, { name: 'owner spare' });
    await expectRefusedWithoutChange(h, 403, () => h.request('POST', `/v1/manage/tokens/${owners.id}/revoke`, { token: staff.token }));
    const secondOwner = await h.addUser({ platformRole: 'taas_owner' });
    expect((await h.request('POST', `/v1/manage/tokens/${owners.id}/revoke`, { token: secondOwner.token })).status).toBe(200);
  });

  it("gives a token only its user's current roles, read at every request", async () => {
    const heidi = await h.addUser({ platformRole: 'taas_admin' });
    const spare = await create(heidi.token);
    expect((await h.request('GET', '/v1/manage/users', { token: spare.token })).status).toBe(200);
    await h.request('PUT', `/v1/manage/users/${heidi.userId}/platform-role`, { token: h.ownerToken, body: { role: null } });
    expect((await h.request('GET', '/v1/manage/users', { token: spare.token })).status).toBe(403);
    expect((await h.request('GET', '/v1/manage/users', { token: heidi.token })).status).toBe(403);
  });

  it('does not accept an invitation token or an API key as a management token', async () => {
    const invitation = await json<{ token: string }>(h.request('POST', `/v1/manage/orgs/${orgId}/invitations`, { token: h.ownerToken, body: { email: 'x-token@example.test', role: 'user' } }));
    const key = await json<{ key: string }>(h.request('POST', '/v1/manage/keys', { token: h.ownerToken, body: { org_id: orgId, name: 'k' } }));
    expect((await me(invitation.token)).status).toBe(401);
    expect((await me(key.key)).status).toBe(401);
  });
});
