// Org suspension: platform staff only, idempotent, audited once per change, and carried to every
// edge in the manifest's org state.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../support/control-plane.ts';

let h: Harness;
let orgId: string;

beforeAll(async () => {
  h = await createHarness();
  orgId = ((await (await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: { name: 'Suspendable' } })).json()) as { id: string }).id;
}, 60_000);
afterAll(() => h?.close());

const auditOf = async (id: string) => (await h.testDb.db.query('SELECT action, before, after FROM audit_log WHERE target_id = $1 ORDER BY id', [id])).rows;

describe('org suspension', () => {
  it('reaches the manifest, writes one audit row per change and none for a repeat', async () => {
    const admin = await h.addUser({ platformRole: 'taas_admin' });
    expect((await h.manifest()).orgs[orgId]).toEqual({ status: 'active' });

    const suspended = await h.request('POST', `/v1/manage/orgs/${orgId}/suspend`, { token: admin.token });
    expect(suspended.status).toBe(200);
    expect(await suspended.json()).toMatchObject({ object: 'org', id: orgId, status: 'suspended' });
    const manifest = await h.manifest();
    expect(manifest.orgs[orgId]).toEqual({ status: 'suspended' });

    const again = await h.request('POST', `/v1/manage/orgs/${orgId}/suspend`, { token: h.ownerToken });
    expect(again.status).toBe(200);
    expect((await h.manifest()).version).toBe(manifest.version);

    expect((await h.request('POST', `/v1/manage/orgs/${orgId}/unsuspend`, { token: h.ownerToken })).status).toBe(200);
    expect((await h.manifest()).orgs[orgId]).toEqual({ status: 'active' });
    const audit = await auditOf(orgId);
    expect(audit.map((r) => r.action)).toEqual(['org.create', 'org.suspend', 'org.unsuspend']);
    expect([audit[1]!.before.status, audit[1]!.after.status]).toEqual(['active', 'suspended']);
  });

  it("refuses the org's own owner with 403, answers a foreign or missing org with the same 404, and changes nothing", async () => {
    const owner = await h.addUser({ orgId, orgRole: 'org_owner' });
    const other = ((await (await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: { name: 'Other' } })).json()) as { id: string }).id;
    const before = (await auditOf(orgId)).length;

    expect((await h.request('POST', `/v1/manage/orgs/${orgId}/suspend`, { token: owner.token })).status).toBe(403);
    const answer = async (id: string) => {
      const res = await h.request('POST', `/v1/manage/orgs/${id}/suspend`, { token: owner.token });
      const body = (await res.json()) as { error: Record<string, unknown> };
      return { status: res.status, error: { ...body.error, request_id: null } };
    };
    const foreign = await answer(other);
    expect(foreign.status).toBe(404);
    expect(foreign).toEqual(await answer('0190a000-0000-7000-8000-0000000000ee'));
    expect((await h.request('POST', '/v1/manage/orgs/not-a-uuid/suspend', { token: h.ownerToken })).status).toBe(404);
    expect((await h.request('POST', '/v1/manage/orgs/0190a000-0000-7000-8000-0000000000ee/unsuspend', { token: h.ownerToken })).status).toBe(404);
    expect((await auditOf(orgId)).length).toBe(before);
    expect((await h.manifest()).orgs[other]).toEqual({ status: 'active' });
  });
});
