// The node API on a real database: manifest publication (signed, versioned, conditional) and
// idempotent, priced usage ingestion.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../shared/api-key.ts';
import { uuidv7 } from '../../shared/ids.ts';
import { verifyManifest } from '../../shared/manifest.ts';
import type { UsageEvent } from '../../shared/usage.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';

let h: Harness;
let orgId: string;
let key: { id: string; key: string };

beforeAll(async () => {
  h = await createHarness();
  orgId = ((await (await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: { name: 'Nodes' } })).json()) as { id: string }).id;
  await h.seedModels([{ id: 'm-priced', upstreamModel: 'up-1', inputPerMtok: 1_000_000, outputPerMtok: 3_000_000 }]);
  key = (await (await h.request('POST', '/v1/manage/keys', { token: h.ownerToken, body: { org_id: orgId, name: 'usage' } })).json()) as typeof key;
}, 60_000);
afterAll(() => h?.close());

async function fetchManifest(etag?: string) {
  return h.request('GET', '/node/v1/manifest', { headers: { authorization: await h.nodeAuthorization(), ...(etag ? { 'if-none-match': etag } : {}) } });
}

function event(overrides: Partial<UsageEvent> = {}): UsageEvent {
  return {
    id: uuidv7(),
    request_id: `req_${uuidv7().replaceAll('-', '')}`,
    key_id: key.id,
    org_id: orgId,
    user_id: null,
    model: 'm-priced',
    supplier_id: 'fake',
    region: 'EU',
    endpoint: '/v1/chat/completions',
    status: 200,
    input_tokens: 1000,
    output_tokens: 500,
    estimated: false,
    started_at: new Date().toISOString(),
    latency_ms: 12,
    ...overrides,
  };
}

async function ingest(events: UsageEvent[]) {
  const res = await h.request('POST', '/node/v1/usage', { headers: { authorization: await h.nodeAuthorization() }, body: { events } });
  return { status: res.status, body: (await res.json()) as { accepted: number; duplicates: number; rejected: string[] } };
}

describe('manifest publication', () => {
  it('refuses callers without a valid node token', async () => {
    expect((await h.request('GET', '/node/v1/manifest')).status).toBe(401);
    expect((await h.request('GET', '/node/v1/manifest', { token: h.ownerToken })).status).toBe(401);
  });

  it('serves a signed manifest holding the key by its hash, and 304 while nothing changed', async () => {
    const res = await fetchManifest();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/jose');
    const etag = res.headers.get('etag')!;
    const verified = await verifyManifest(await res.text(), { publicKeys: { test: h.manifestPublicKey }, nowSeconds: Math.floor(Date.now() / 1000) });
    if (!verified.ok) throw new Error(verified.reason);
    expect(verified.manifest.keys[await hashToken(key.key)]).toMatchObject({ id: key.id, org_id: orgId });
    expect(JSON.stringify(verified.manifest)).not.toContain(key.key);
    expect(verified.manifest.models['m-priced']).toMatchObject({ pricing: { input_per_mtok: 1_000_000, output_per_mtok: 3_000_000 }, routes: [{ supplier_id: 'fake', upstream_model: 'up-1' }] });
    expect((await fetchManifest(etag)).status).toBe(304);
  });

  it('publishes a higher version without a revoked key after the revoke', async () => {
    const doomed = (await (await h.request('POST', '/v1/manage/keys', { token: h.ownerToken, body: { org_id: orgId, name: 'doomed' } })).json()) as { id: string; key: string };
    const first = await fetchManifest();
    const before = await verifyManifest(await first.text(), { publicKeys: { test: h.manifestPublicKey }, nowSeconds: Math.floor(Date.now() / 1000) });
    if (!before.ok) throw new Error(before.reason);
    expect(before.manifest.keys[await hashToken(doomed.key)]).toBeDefined();

    await h.request('POST', `/v1/manage/keys/${doomed.id}/revoke`, { token: h.ownerToken });
    const second = await fetchManifest(first.headers.get('etag')!);
    expect(second.status).toBe(200);
    const after = await verifyManifest(await second.text(), {
      publicKeys: { test: h.manifestPublicKey },
      nowSeconds: Math.floor(Date.now() / 1000),
      current: before.manifest,
    });
    if (!after.ok) throw new Error(after.reason);
    expect(after.manifest.version).toBeGreaterThan(before.manifest.version);
    expect(after.manifest.keys[await hashToken(doomed.key)]).toBeUndefined();
  });
});

describe('disabling a node', () => {
  it('refuses its next node-API call, lets it back in when enabled, audits each change once, and only for the platform owner', async () => {
    const call = async () => (await h.request('GET', '/node/v1/manifest', { headers: { authorization: await h.nodeAuthorization() } })).status;
    const staff = await h.addUser({ platformRole: 'taas_admin' });
    expect((await h.request('POST', `/v1/manage/edge-nodes/${h.nodeId}/disable`, { token: staff.token })).status).toBe(403);
    expect(await call()).toBe(200);
    for (let i = 0; i < 2; i++) {
      const disabled = await h.request('POST', `/v1/manage/edge-nodes/${h.nodeId}/disable`, { token: h.ownerToken });
      expect(disabled.status).toBe(200);
      expect(await disabled.json()).toMatchObject({ id: h.nodeId, status: 'disabled' });
    }
    expect(await call()).toBe(401);
    expect((await h.request('POST', `/v1/manage/edge-nodes/${h.nodeId}/enable`, { token: h.ownerToken })).status).toBe(200);
    expect(await call()).toBe(200);
    const audit = await h.testDb.db.query("SELECT action FROM audit_log WHERE target_type = 'edge_node' AND target_id = $1 ORDER BY id", [h.nodeId]);
    expect(audit.rows.map((r) => r.action)).toEqual(['edge_node.register', 'edge_node.disable', 'edge_node.enable']);
    expect((await h.request('POST', '/v1/manage/edge-nodes/no-such-node/disable', { token: h.ownerToken })).status).toBe(404);
  });
});

describe('usage ingestion', () => {
  it('stores each event once however often it is delivered', async () => {
    const batch = [event(), event(), event()];
    expect((await ingest(batch)).body).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    expect((await ingest(batch)).body).toEqual({ accepted: 0, duplicates: 3, rejected: [] });
    expect((await ingest([...batch, event()])).body).toEqual({ accepted: 1, duplicates: 3, rejected: [] });
    const count = await h.testDb.db.query('SELECT count(*) AS n FROM usage_events WHERE id = ANY($1::uuid[])', [batch.map((e) => e.id)]);
    expect(Number(count.rows[0]!.n)).toBe(3);
  });

  it('prices with the version in force at request time, and charges nothing for failed requests', async () => {
    await h.testDb.db.query(
      "INSERT INTO model_prices (model_id, effective_from, input_per_mtok, output_per_mtok) VALUES ('m-priced', '2030-01-01T00:00:00Z', 2000000, 6000000)",
    );
    const old = event({ started_at: '2029-06-01T00:00:00.000Z', input_tokens: 1234, output_tokens: 567 });
    const current = event({ started_at: '2030-06-01T00:00:00.000Z', input_tokens: 1234, output_tokens: 567 });
    const failed = event({ status: 502, input_tokens: 1234, output_tokens: 567 });
    await ingest([old, current, failed]);
    const rows = await h.testDb.db.query<{ id: string; cost_micros: string }>('SELECT id, cost_micros::text FROM usage_events WHERE id = ANY($1::uuid[])', [
      [old.id, current.id, failed.id],
    ]);
    const cost = Object.fromEntries(rows.rows.map((r) => [r.id, Number(r.cost_micros)]));
    expect(cost[old.id]).toBe(1234 + 1701); // 1234 × $1/M + 567 × $3/M, in µUSD
    expect(cost[current.id]).toBe(2468 + 3402);
    expect(cost[failed.id]).toBe(0);
  });

  it('takes the user from the key, and rejects events naming a key of another org', async () => {
    const stranger = event({ org_id: '0190a000-0000-7000-8000-0000000000bb' });
    const unknownKey = event({ key_id: '0190a000-0000-7000-8000-0000000000cc' });
    const good = event({ user_id: '0190a000-0000-7000-8000-0000000000dd' });
    const { status, body } = await ingest([stranger, unknownKey, good]);
    expect(status).toBe(200);
    expect(body.accepted).toBe(1);
    expect(body.rejected.sort()).toEqual([stranger.id, unknownKey.id].sort());
    const row = await h.testDb.db.query('SELECT user_id FROM usage_events WHERE id = $1', [good.id]);
    expect(row.rows[0]!.user_id).toBeNull();
  });

  it('refuses a malformed batch with a 422 and stores nothing of it', async () => {
    const bad = { ...event(), input_tokens: -1 };
    const res = await h.request('POST', '/node/v1/usage', { headers: { authorization: await h.nodeAuthorization() }, body: { events: [event(), bad] } });
    expect(res.status).toBe(422);
    const { rows } = await h.testDb.db.query('SELECT count(*) AS n FROM usage_events WHERE id = $1', [bad.id]);
    expect(Number(rows[0]!.n)).toBe(0);
    expect((await h.request('POST', '/node/v1/usage', { headers: { authorization: await h.nodeAuthorization() }, body: { events: [] } })).status).toBe(422);
  });

  // A 5xx is retried by the node's outbox forever, oldest batch first: one event PostgreSQL cannot
  // store would block every later one. A 422 lets the outbox isolate it and go on.
  it.each([
    ['a model name holding a NUL', { model: 'a\u0000b' }, 'events.1.model'],
    ['a model name holding a lone surrogate', { model: 'gpt\ud800' }, 'events.1.model'],
    ['a count beyond the integer column', { input_tokens: 3_000_000_000 }, 'events.1.input_tokens'],
  ])('refuses an event with %s with a 422 naming it, not a 500', async (_name, fields, param) => {
    const bad = { ...event(), ...fields };
    const res = await h.request('POST', '/node/v1/usage', { headers: { authorization: await h.nodeAuthorization() }, body: { events: [event(), bad] } });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ error: { code: 'validation_failed', param } });
  });
});
