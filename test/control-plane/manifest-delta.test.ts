// Manifest deltas from the control plane on a real database: the change log the triggers write,
// deltas that give the same key set as a snapshot, long-polling, and the snapshot fallback.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../shared/api-key.ts';
import { applyManifestDelta, verifyManifestDelta } from '../../shared/manifest-delta.ts';
import { verifyManifest, type ManifestPayload } from '../../shared/manifest.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';

let h: Harness;
let orgId: string;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  h = await createHarness();
  orgId = ((await (await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: { name: 'Deltas' } })).json()) as { id: string }).id;
}, 60_000);
afterAll(() => h?.close());

async function get(query: string) {
  return h.request('GET', `/node/v1/manifest${query}`, { headers: { authorization: await h.nodeAuthorization() } });
}

async function snapshot(): Promise<ManifestPayload> {
  const verified = await verifyManifest(await (await get('')).text(), { publicKeys: { test: h.manifestPublicKey }, nowSeconds: now() });
  if (!verified.ok) throw new Error(verified.reason);
  return verified.manifest;
}

const createKey = async (name: string) =>
  (await (await h.request('POST', '/v1/manage/keys', { token: h.ownerToken, body: { org_id: orgId, name } })).json()) as { id: string; key: string };

describe('manifest deltas', () => {
  it('answers a delta whose application equals the snapshot, across create, rotate, patch and revoke', async () => {
    const kept = await createKey('kept');
    const base = await snapshot();
    const added = await createKey('added');
    await h.request('POST', `/v1/manage/keys/${kept.id}/rotate`, { token: h.ownerToken, body: { overlap_seconds: 600 } });
    await h.request('PATCH', `/v1/manage/keys/${added.id}`, { token: h.ownerToken, body: { rate_limit_rpm: 7 } });
    const doomed = await createKey('doomed');
    await h.request('POST', `/v1/manage/keys/${doomed.id}/revoke`, { token: h.ownerToken });

    const res = await get(`?since=${base.version}&issued_at=${base.issued_at}`);
    expect(res.status).toBe(200);
    const verified = await verifyManifestDelta(await res.text(), { publicKeys: { test: h.manifestPublicKey }, nowSeconds: now(), base });
    if (!verified.ok) throw new Error(verified.reason);
    expect(Object.keys(verified.delta.put).length).toBeLessThanOrEqual(4);
    const applied = applyManifestDelta(structuredClone(base), verified.delta);
    const full = await snapshot();
    expect(applied.version).toBe(full.version);
    expect(applied.keys).toEqual(full.keys);
    expect(applied.keys[await hashToken(doomed.key)]).toBeUndefined();
    expect(applied.keys[await hashToken(added.key)]).toMatchObject({ rate_limit_rpm: 7 });
  });

  it('answers 304 at once when nothing changed, and holds a long-poll until a revoke', async () => {
    const key = await createKey('long-poll');
    const base = await snapshot();
    expect((await get(`?since=${base.version}&issued_at=${base.issued_at}`)).status).toBe(304);

    const started = Date.now();
    const pending = get(`?since=${base.version}&issued_at=${base.issued_at}&wait=10`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await h.request('POST', `/v1/manage/keys/${key.id}/revoke`, { token: h.ownerToken });
    const res = await pending;
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2000);
    const verified = await verifyManifestDelta(await res.text(), { publicKeys: { test: h.manifestPublicKey }, nowSeconds: now(), base });
    if (!verified.ok) throw new Error(verified.reason);
    expect(verified.delta.remove).toContain(await hashToken(key.key));
  });

  it('answers a snapshot when the delta cannot reach back that far', async () => {
    await h.testDb.db.query('UPDATE manifest_state SET changes_since = version');
    const base = await snapshot();
    await createKey('after-prune');
    const res = await get(`?since=${base.version - 1}&issued_at=${base.issued_at}`);
    expect(res.status).toBe(200);
    const asSnapshot = await verifyManifest(await res.text(), { publicKeys: { test: h.manifestPublicKey }, nowSeconds: now() });
    expect(asSnapshot.ok).toBe(true);
  });

  it('prunes log rows older than two manifest lifetimes and answers a snapshot for versions before them', async () => {
    const base = await snapshot();
    const old = await createKey('old change');
    // The harness signs with a 600 s lifetime: rows written more than 1200 s ago go at the next rebuild.
    await h.testDb.db.query("UPDATE manifest_key_changes SET changed_at = now() - interval '2 hours'");
    const oldRows = Number((await h.testDb.db.query('SELECT count(*) AS n FROM manifest_key_changes')).rows[0]!.n);
    expect(oldRows).toBeGreaterThan(0);
    await createKey('recent change');
    await snapshot(); // the version moved: this rebuild prunes
    const left = await h.testDb.db.query<{ version: string }>('SELECT version::text FROM manifest_key_changes');
    const state = await h.testDb.db.query<{ version: string; changes_since: string }>('SELECT version::text, changes_since::text FROM manifest_state');
    expect(left.rows.length).toBeGreaterThan(0);
    expect(left.rows.every((r) => Number(r.version) > Number(state.rows[0]!.changes_since))).toBe(true);
    expect(Number(state.rows[0]!.changes_since)).toBeGreaterThan(base.version);
    // A delta from before the pruned changes cannot be built any more: the edge gets a snapshot.
    const res = await get(`?since=${base.version}&issued_at=${base.issued_at}`);
    const asSnapshot = await verifyManifest(await res.text(), { publicKeys: { test: h.manifestPublicKey }, nowSeconds: now() });
    expect(asSnapshot.ok).toBe(true);
    if (asSnapshot.ok) expect(asSnapshot.manifest.keys[await hashToken(old.key)]).toBeDefined();
  });

  it('publishes nothing for bookkeeping updates, and bumps the version itself for a key change made without a bump', async () => {
    const before = Number((await h.testDb.db.query('SELECT version FROM manifest_state')).rows[0]!.version);
    await h.testDb.db.query("UPDATE api_keys SET name = 'renamed' WHERE org_id = $1", [orgId]);
    const after = Number((await h.testDb.db.query('SELECT version FROM manifest_state')).rows[0]!.version);
    expect(after).toBe(before);
    await h.testDb.db.query('UPDATE api_keys SET rate_limit_rpm = 9 WHERE org_id = $1', [orgId]);
    const bumped = await h.testDb.db.query<{ version: string; n: string }>(
      'SELECT s.version, (SELECT count(*) FROM manifest_key_changes c WHERE c.version = s.version) AS n FROM manifest_state s',
    );
    // A change without an explicit bump gets one from the trigger: it can never hide under a version edges hold.
    expect(Number(bumped.rows[0]!.version)).toBe(before + 1);
    expect(Number(bumped.rows[0]!.n)).toBeGreaterThan(0);
  });
});
