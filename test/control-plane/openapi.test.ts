// The OpenAPI document and the app's own route list must agree: no undocumented route, no
// documented route that does not exist.

import { describe, expect, it } from 'vitest';
import { createControlPlaneApp } from '../../control-plane/app.ts';
import type { Database } from '../../control-plane/db.ts';
import { silentLogger } from '../../control-plane/log.ts';
import { API_SPECS } from '../../control-plane/routes/all-specs.ts';

// Building the app touches no database; route listing needs none.
const app = createControlPlaneApp({
  db: {} as Database,
  manifest: { current: async () => { throw new Error('unused'); }, updateFor: async () => { throw new Error('unused'); }, waitBeyond: async () => 0, shard: async () => null },
  now: () => new Date(),
  log: silentLogger,
});

const appRoutes = () =>
  [...new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method.toLowerCase()} ${r.path}`))].sort();

describe('OpenAPI document', () => {
  it('documents exactly the routes the app serves', () => {
    const documented = API_SPECS.map((s) => `${s.method} ${s.path}`).sort();
    expect(documented).toEqual(appRoutes());
  });

  it('is served at /openapi.json as OpenAPI 3.1 with request schemas from the validators', async () => {
    const res = await app.request('/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown>; required?: string[] } }> }; parameters: { name: string; in: string }[] }>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    const createKey = doc.paths['/v1/manage/keys']!.post!;
    const schema = createKey.requestBody!.content['application/json']!.schema;
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['name', 'allowed_models', 'allowed_regions', 'expires_at']));
    expect(schema.required).toEqual(['name']);
    const revoke = doc.paths['/v1/manage/keys/{id}/revoke']!.post!;
    expect(revoke.parameters).toEqual([expect.objectContaining({ name: 'id', in: 'path' })]);
    const list = doc.paths['/v1/manage/keys']!.get!;
    expect(list.parameters.map((p) => p.name).sort()).toEqual(['after', 'limit', 'org_id']);
  });
});
