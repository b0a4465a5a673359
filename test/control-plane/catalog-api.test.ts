// The catalog API (suppliers, models, routes) on a real database, once on PostgreSQL (when the
// machine has one) and once on PGlite: CRUD, field-level validation, 404s, platform-only access,
// one audit row per change and none for a refused or empty one, and what reaches the manifest.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../support/control-plane.ts';
import { postgresAvailable } from '../support/db.ts';

const targets = [...(postgresAvailable() ? (['postgres'] as const) : []), 'pglite'] as const;

type Json = Record<string, unknown> & { error?: { code: string; param: string | null; message: string } };

describe.each(targets)('catalog API on %s', (target) => {
  let h: Harness;
  let admin: string;
  let orgOwner: string;

  beforeAll(async () => {
    h = await createHarness(target);
    admin = (await h.addUser({ platformRole: 'taas_admin' })).token;
    const org = (await (await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: { name: 'Tenant' } })).json()) as { id: string };
    orgOwner = (await h.addUser({ orgId: org.id, orgRole: 'org_owner' })).token;
  }, 60_000);
  afterAll(() => h?.close());

  async function call(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
    const res = await h.request(method, path, { token, ...(body === undefined ? {} : { body }) });
    return { status: res.status, body: res.status === 204 ? {} : ((await res.json()) as Json) };
  }
  const auditCount = async () => Number((await h.testDb.db.query<{ n: string }>('SELECT count(*) AS n FROM audit_log')).rows[0]!.n);
  const auditOf = async (targetId: string) =>
    (await h.testDb.db.query('SELECT action, actor_user_id, before, after FROM audit_log WHERE target_id = $1 ORDER BY id', [targetId])).rows;
  const supplier = (id: string, extra: Record<string, unknown> = {}) => ({ id, name: `Supplier ${id}`, format: 'openai', base_url: 'https://api.example.test/v1', region: 'EU', ...extra });

  it('lets the owner add, read, list and change a supplier, each change audited once and published', async () => {
    const before = (await h.manifest()).version;
    const created = await call(h.ownerToken, 'POST', '/v1/manage/suppliers', supplier('acme'));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ object: 'supplier', id: 'acme', format: 'openai', region: 'EU', status: 'active' });
    expect((await call(admin, 'GET', '/v1/manage/suppliers/acme')).body).toEqual(created.body);
    const listed = await call(admin, 'GET', '/v1/manage/suppliers?limit=100');
    expect((listed.body.data as { id: string }[]).map((s) => s.id)).toContain('acme');

    const patched = await call(h.ownerToken, 'PATCH', '/v1/manage/suppliers/acme', { region: 'US', base_url: 'http://127.0.0.1:8080/v1' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ region: 'US', base_url: 'http://127.0.0.1:8080/v1', name: 'Supplier acme' });
    const audit = await auditOf('acme');
    expect(audit.map((r) => r.action)).toEqual(['supplier.create', 'supplier.update']);
    expect(audit[1]!.before.region).toBe('EU');
    expect(audit[1]!.after.region).toBe('US');
    expect((await h.manifest()).version).toBe(before + 2);
  });

  it('refuses bad supplier input with a 422 naming the field, and writes nothing', async () => {
    const before = await auditCount();
    const cases: [Record<string, unknown>, string | null][] = [
      [supplier('Bad Id'), 'id'],
      [supplier('ok-1', { format: 'grpc' }), 'format'],
      [supplier('ok-1', { region: 'MARS' }), 'region'],
      [supplier('ok-1', { name: '' }), 'name'],
      [supplier('ok-1', { base_url: 'http://api.example.test/v1' }), 'base_url'],
      [supplier('ok-1', { base_url: 'https://user:pw@api.example.test/v1' }), 'base_url'],
      [supplier('ok-1', { base_url: 'https://api.example.test/v1?key=1' }), 'base_url'],
      [supplier('ok-1', { base_url: 'ftp://127.0.0.1/v1' }), 'base_url'],
      [supplier('ok-1', { base_url: 'not a url' }), 'base_url'],
      [supplier('ok-1', { status: 'paused' }), 'status'],
      [supplier('ok-1', { api_key: 'sk-1' }), null],
    ];
    for (const [body, param] of cases) {
      const res = await call(h.ownerToken, 'POST', '/v1/manage/suppliers', body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.error!.code).toBe('validation_failed');
      if (param) expect(res.body.error!.param).toBe(param);
    }
    expect((await call(h.ownerToken, 'PATCH', '/v1/manage/suppliers/acme', {})).status).toBe(422);
    expect((await call(h.ownerToken, 'PATCH', '/v1/manage/suppliers/acme', { id: 'other' })).status).toBe(422);
    expect((await call(h.ownerToken, 'POST', '/v1/manage/suppliers', supplier('acme'))).status).toBe(409);
    expect((await call(h.ownerToken, 'GET', '/v1/manage/suppliers/nope')).status).toBe(404);
    expect((await call(h.ownerToken, 'GET', '/v1/manage/suppliers/NOT%20A%20SLUG')).status).toBe(404);
    expect((await call(h.ownerToken, 'PATCH', '/v1/manage/suppliers/nope', { name: 'x' })).status).toBe(404);
    expect(await auditCount()).toBe(before);
  });

  it('lets admins operate models, routes and prices but not suppliers; org roles get 403; refusals leave no audit row', async () => {
    await call(h.ownerToken, 'POST', '/v1/manage/suppliers', supplier('roles-sup'));
    await call(h.ownerToken, 'POST', '/v1/manage/models', { id: 'roles-model', owned_by: 'acme' });
    const before = await auditCount();
    expect((await call(admin, 'POST', '/v1/manage/suppliers', supplier('by-admin'))).status).toBe(403);
    expect((await call(admin, 'PATCH', '/v1/manage/suppliers/roles-sup', { status: 'disabled' })).status).toBe(403);
    const forbidden: [string, string, unknown?][] = [
      ['GET', '/v1/manage/suppliers'],
      ['GET', '/v1/manage/suppliers/roles-sup'],
      ['POST', '/v1/manage/suppliers', supplier('by-tenant')],
      ['GET', '/v1/manage/models'],
      ['GET', '/v1/manage/models/roles-model'],
      ['POST', '/v1/manage/models', { id: 'by-tenant', owned_by: 'x' }],
      ['PATCH', '/v1/manage/models/roles-model', { status: 'disabled' }],
      ['GET', '/v1/manage/models/roles-model/routes'],
      ['POST', '/v1/manage/models/roles-model/routes', { supplier_id: 'roles-sup', upstream_model: 'u' }],
      ['PATCH', '/v1/manage/routes/0190a000-0000-7000-8000-000000000001', { priority: 1 }],
      ['DELETE', '/v1/manage/routes/0190a000-0000-7000-8000-000000000001'],
      ['GET', '/v1/manage/models/roles-model/prices'],
      ['POST', '/v1/manage/models/roles-model/prices', { effective_from: new Date().toISOString(), input_per_mtok: 1, output_per_mtok: 1 }],
    ];
    for (const [method, path, body] of forbidden) expect((await call(orgOwner, method, path, body)).status, `${method} ${path}`).toBe(403);
    expect(await auditCount()).toBe(before);

    const model = await call(admin, 'POST', '/v1/manage/models', { id: 'by-admin-model', owned_by: 'acme' });
    expect(model.status).toBe(201);
    const route = await call(admin, 'POST', '/v1/manage/models/by-admin-model/routes', { supplier_id: 'roles-sup', upstream_model: 'up' });
    expect(route.status).toBe(201);
    const price = await call(admin, 'POST', '/v1/manage/models/by-admin-model/prices', { effective_from: new Date().toISOString(), input_per_mtok: 1, output_per_mtok: 2 });
    expect(price.status).toBe(201);
    const adminAudit = await h.testDb.db.query('SELECT count(*) AS n FROM audit_log WHERE target_id IN ($1, $2) AND actor_user_id IS NOT NULL', ['by-admin-model', route.body.id]);
    expect(Number(adminAudit.rows[0]!.n)).toBe(2);
    expect(await auditCount()).toBe(before + 3);
  });

  it('manages models with validation, 404s and percent-encoded ids', async () => {
    const created = await call(admin, 'POST', '/v1/manage/models', {
      id: 'meta-llama/Llama-3.3-70B',
      type: 'chat',
      owned_by: 'meta',
      context_window: 131072,
      max_output_tokens: 8192,
      capabilities: ['streaming', 'tools'],
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ object: 'model', id: 'meta-llama/Llama-3.3-70B', status: 'active', capabilities: ['streaming', 'tools'] });
    const path = `/v1/manage/models/${encodeURIComponent('meta-llama/Llama-3.3-70B')}`;
    expect((await call(admin, 'GET', path)).body).toEqual(created.body);
    expect((await call(admin, 'PATCH', path, { max_output_tokens: 16384 })).body.max_output_tokens).toBe(16384);

    const cases: [Record<string, unknown>, string][] = [
      [{ id: ' spaced', owned_by: 'x' }, 'id'],
      [{ id: 'm-type', owned_by: 'x', type: 'video' }, 'type'],
      [{ id: 'm-cw', owned_by: 'x', context_window: 0 }, 'context_window'],
      [{ id: 'm-cw', owned_by: 'x', context_window: 1.5 }, 'context_window'],
      [{ id: 'm-out', owned_by: 'x', context_window: 1000, max_output_tokens: 2000 }, 'max_output_tokens'],
      [{ id: 'm-cap', owned_by: 'x', capabilities: ['tools', 'tools'] }, 'capabilities'],
      [{ id: 'm-cap', owned_by: 'x', capabilities: ['Bad Cap'] }, 'capabilities.0'],
      [{ id: 'm-own' }, 'owned_by'],
    ];
    for (const [body, param] of cases) {
      const res = await call(admin, 'POST', '/v1/manage/models', body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.error!.param).toBe(param);
    }
    expect((await call(admin, 'PATCH', path, { context_window: 100 })).body.error!.param).toBe('max_output_tokens');
    expect((await call(admin, 'POST', '/v1/manage/models', { id: 'meta-llama/Llama-3.3-70B', owned_by: 'x' })).status).toBe(409);
    expect((await call(admin, 'GET', '/v1/manage/models/missing-model')).status).toBe(404);
    expect((await call(admin, 'PATCH', '/v1/manage/models/missing-model', { owned_by: 'y' })).status).toBe(404);
  });

  it('routes a model to suppliers: pins only an active credential of the same supplier, refuses duplicates, deletes', async () => {
    await call(h.ownerToken, 'POST', '/v1/manage/suppliers', supplier('route-a'));
    await call(h.ownerToken, 'POST', '/v1/manage/suppliers', supplier('route-b'));
    await call(admin, 'POST', '/v1/manage/models', { id: 'routed', owned_by: 'x' });
    const credential = await call(h.ownerToken, 'POST', '/v1/manage/suppliers/route-b/credentials', { kind: 'api_key', api_key: 'sk-route-b-0123456789abcdef' });
    expect(credential.status).toBe(201);

    const route = await call(admin, 'POST', '/v1/manage/models/routed/routes', { supplier_id: 'route-a', upstream_model: 'up-a', priority: 10 });
    expect(route.status).toBe(201);
    expect(route.body).toMatchObject({ object: 'model_route', model_id: 'routed', supplier_id: 'route-a', priority: 10, credential_id: null, status: 'active' });
    const routes = `/v1/manage/models/routed/routes`;
    expect((await call(admin, 'POST', routes, { supplier_id: 'route-a', upstream_model: 'up-a' })).status).toBe(409);
    expect((await call(admin, 'POST', routes, { supplier_id: 'nobody', upstream_model: 'x' })).body.error!.param).toBe('supplier_id');
    expect((await call(admin, 'POST', routes, { supplier_id: 'route-a', upstream_model: 'has space' })).body.error!.param).toBe('upstream_model');
    expect((await call(admin, 'POST', routes, { supplier_id: 'route-a', upstream_model: 'x', priority: -1 })).body.error!.param).toBe('priority');
    const foreignPin = await call(admin, 'POST', routes, { supplier_id: 'route-a', upstream_model: 'x', credential_id: credential.body.id });
    expect([foreignPin.status, foreignPin.body.error!.param]).toEqual([422, 'credential_id']);
    expect((await call(admin, 'POST', '/v1/manage/models/nothing/routes', { supplier_id: 'route-a', upstream_model: 'x' })).status).toBe(404);

    const pinned = await call(admin, 'POST', routes, { supplier_id: 'route-b', upstream_model: 'up-b', priority: 20, credential_id: credential.body.id });
    expect(pinned.status).toBe(201);
    expect(pinned.body.credential_id).toBe(credential.body.id);
    const listed = await call(admin, 'GET', `${routes}?limit=1`);
    expect(listed.body.data).toHaveLength(1);
    expect(listed.body.next_cursor).toBe(route.body.id);

    const patched = await call(admin, 'PATCH', `/v1/manage/routes/${route.body.id}`, { priority: 30, status: 'disabled' });
    expect(patched.body).toMatchObject({ priority: 30, status: 'disabled' });
    expect((await call(admin, 'PATCH', `/v1/manage/routes/${route.body.id}`, { credential_id: credential.body.id })).body.error!.param).toBe('credential_id');
    expect((await call(admin, 'DELETE', `/v1/manage/routes/${route.body.id}`)).status).toBe(204);
    expect((await call(admin, 'DELETE', `/v1/manage/routes/${route.body.id}`)).status).toBe(404);
    expect((await call(admin, 'PATCH', `/v1/manage/routes/${route.body.id}`, { priority: 1 })).status).toBe(404);
    expect((await call(admin, 'PATCH', '/v1/manage/routes/not-a-uuid', { priority: 1 })).status).toBe(404);
    expect((await auditOf(route.body.id as string)).map((r) => r.action)).toEqual(['model_route.create', 'model_route.update', 'model_route.delete']);
  });

  it('leaves disabled suppliers, models and routes out of the manifest, and brings them back', async () => {
    await call(h.ownerToken, 'POST', '/v1/manage/suppliers', supplier('mf-a'));
    await call(h.ownerToken, 'POST', '/v1/manage/suppliers', supplier('mf-b', { region: 'US' }));
    await call(admin, 'POST', '/v1/manage/models', { id: 'mf-model', owned_by: 'x' });
    await call(admin, 'POST', '/v1/manage/models/mf-model/routes', { supplier_id: 'mf-a', upstream_model: 'a', priority: 1 });
    const routeB = await call(admin, 'POST', '/v1/manage/models/mf-model/routes', { supplier_id: 'mf-b', upstream_model: 'b', priority: 2 });
    const suppliersOf = async () => (await h.manifest()).models['mf-model']?.routes.map((r) => r.supplier_id);

    expect(await suppliersOf()).toEqual(['mf-a', 'mf-b']);
    await call(h.ownerToken, 'PATCH', '/v1/manage/suppliers/mf-a', { status: 'disabled' });
    expect(await suppliersOf()).toEqual(['mf-b']);
    await call(admin, 'PATCH', `/v1/manage/routes/${routeB.body.id}`, { status: 'disabled' });
    expect(await suppliersOf()).toEqual([]);
    await call(admin, 'PATCH', '/v1/manage/models/mf-model', { status: 'disabled' });
    expect(await suppliersOf()).toBeUndefined();
    await call(admin, 'PATCH', '/v1/manage/models/mf-model', { status: 'active' });
    await call(h.ownerToken, 'PATCH', '/v1/manage/suppliers/mf-a', { status: 'active' });
    await call(admin, 'PATCH', `/v1/manage/routes/${routeB.body.id}`, { status: 'active' });
    expect(await suppliersOf()).toEqual(['mf-a', 'mf-b']);
  });

  it('writes no audit row and publishes nothing for a PATCH that changes nothing', async () => {
    await call(admin, 'POST', '/v1/manage/models', { id: 'steady', owned_by: 'x', capabilities: ['tools'] });
    const audit = await auditCount();
    const version = (await h.manifest()).version;
    const same = await call(admin, 'PATCH', '/v1/manage/models/steady', { owned_by: 'x', capabilities: ['tools'] });
    expect(same.status).toBe(200);
    expect(await auditCount()).toBe(audit);
    expect((await h.manifest()).version).toBe(version);
  });
});
