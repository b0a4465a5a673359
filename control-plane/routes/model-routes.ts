// /v1/manage/models/:id/routes and /v1/manage/routes/:id: which suppliers serve a model, in which
// priority (lower is tried first), optionally pinned to one credential of that supplier
// (platform staff). Mounted at /v1/manage because its paths span two resources.

import { Hono } from 'hono';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import { uuidv7 } from '../../shared/ids.ts';
import type { ApiSpec } from '../api-spec.ts';
import { writeAudit } from '../audit.ts';
import { requireCatalog } from '../catalog-access.ts';
import { ModelId, pathCatalogId, SupplierId } from '../catalog-ids.ts';
import type { Database, Queryable } from '../db.ts';
import { PageQuery, toPage } from '../pagination.ts';
import { applyPatch, changesAnything, patchOf } from '../patch.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { findCredential } from '../sql/credentials.ts';
import { bumpManifestVersion } from '../sql/manifest.ts';
import { deleteModelRoute, findModelRoute, insertModelRoute, listModelRoutes, updateModelRoute, type ModelRouteRow } from '../sql/model-routes.ts';
import { findModel } from '../sql/models.ts';
import { findSupplier } from '../sql/suppliers.ts';
import { parseJsonBody, parseQuery, pathUuid } from '../validation.ts';

const routeFields = {
  upstream_model: z.string().regex(/^[\x21-\x7e]{1,200}$/, 'printable ASCII without spaces; at most 200'),
  priority: z.number().int().min(0).max(1_000_000),
  credential_id: z.uuid().nullable(),
  status: z.enum(['active', 'disabled']),
};

export const CreateRoute = z.strictObject({
  supplier_id: SupplierId,
  ...routeFields,
  priority: routeFields.priority.default(100),
  credential_id: routeFields.credential_id.default(null),
  status: routeFields.status.default('active'),
});
export const UpdateRoute = patchOf(routeFields);

export const modelRouteSpecs: ApiSpec[] = [
  { method: 'post', path: '/v1/manage/models/:id/routes', summary: 'Route a model to a supplier (platform staff)', tag: 'catalog', access: 'admin', body: CreateRoute, success: { status: 201, description: 'The route' } },
  { method: 'get', path: '/v1/manage/models/:id/routes', summary: "List a model's routes (platform staff)", tag: 'catalog', access: 'admin', query: PageQuery, success: { status: 200, description: 'A page of routes' } },
  { method: 'patch', path: '/v1/manage/routes/:id', summary: 'Change, re-pin or disable a route (platform staff)', tag: 'catalog', access: 'admin', body: UpdateRoute, success: { status: 200, description: 'The route' } },
  { method: 'delete', path: '/v1/manage/routes/:id', summary: 'Remove a route (platform staff)', tag: 'catalog', access: 'admin', success: { status: 204, description: 'Removed' } },
];

function present(r: ModelRouteRow) {
  return {
    object: 'model_route' as const,
    id: r.id,
    model_id: r.model_id,
    supplier_id: r.supplier_id,
    upstream_model: r.upstream_model,
    priority: r.priority,
    credential_id: r.credential_id,
    status: r.status,
    created_at: r.created_at.toISOString(),
  };
}

/** A pinned credential must be an active one of the route's own supplier. Locked, so a concurrent retire waits and then sees the pin. */
async function checkPinnedCredential(tx: Queryable, credentialId: string | null, supplierId: string): Promise<void> {
  if (credentialId === null) return;
  const credential = await findCredential(tx, credentialId, { forUpdate: true });
  if (!credential || credential.supplier_id !== supplierId || credential.status !== 'active') {
    throw new ApiError('validation_failed', "Invalid value for 'credential_id': not an active credential of this route's supplier.", { param: 'credential_id' });
  }
}

const duplicate = () => new ApiError('conflict', 'This model already has a route to that supplier and upstream model.', { param: 'upstream_model' });

export function modelRouteRoutes(deps: { db: Database; now: () => Date }) {
  return new Hono<AppEnv>()
    .post('/models/:id/routes', async (c) => {
      const body = await parseJsonBody(c, CreateRoute);
      requireCatalog(c.get('principal'), 'operate');
      const modelId = pathCatalogId(c, ModelId, 'model');
      const route = await deps.db.transaction(async (tx) => {
        if (!(await findModel(tx, modelId))) throw new ApiError('not_found', 'No such model.');
        if (!(await findSupplier(tx, body.supplier_id))) {
          throw new ApiError('validation_failed', "Invalid value for 'supplier_id': no such supplier.", { param: 'supplier_id' });
        }
        await checkPinnedCredential(tx, body.credential_id, body.supplier_id);
        const created = await insertModelRoute(tx, { id: uuidv7(deps.now().getTime()), model_id: modelId, ...body });
        if (!created) throw duplicate();
        await writeAudit(tx, actorOf(c), { action: 'model_route.create', targetType: 'model_route', targetId: created.id, orgId: null, after: present(created) });
        await bumpManifestVersion(tx);
        return created;
      });
      return c.json(present(route), 201);
    })
    .get('/models/:id/routes', async (c) => {
      const query = parseQuery(c, PageQuery);
      requireCatalog(c.get('principal'), 'read');
      const modelId = pathCatalogId(c, ModelId, 'model');
      if (!(await findModel(deps.db, modelId))) throw new ApiError('not_found', 'No such model.');
      const rows = await listModelRoutes(deps.db, { modelId, after: query.after ?? null, limit: query.limit + 1 });
      return c.json(toPage(rows, query.limit, present));
    })
    .patch('/routes/:id', async (c) => {
      const body = await parseJsonBody(c, UpdateRoute);
      requireCatalog(c.get('principal'), 'operate');
      const id = pathUuid(c, 'id', 'route');
      const route = await deps.db.transaction(async (tx) => {
        const current = await findModelRoute(tx, id, { forUpdate: true });
        if (!current) throw new ApiError('not_found', 'No such route.');
        const next = applyPatch(current, body);
        if (!changesAnything(current, next)) return current;
        if (next.credential_id !== current.credential_id) await checkPinnedCredential(tx, next.credential_id, current.supplier_id);
        const updated = await updateModelRoute(tx, id, next);
        if (!updated) throw duplicate();
        await writeAudit(tx, actorOf(c), { action: 'model_route.update', targetType: 'model_route', targetId: id, orgId: null, before: present(current), after: present(updated) });
        await bumpManifestVersion(tx);
        return updated;
      });
      return c.json(present(route));
    })
    .delete('/routes/:id', async (c) => {
      requireCatalog(c.get('principal'), 'operate');
      const id = pathUuid(c, 'id', 'route');
      await deps.db.transaction(async (tx) => {
        const current = await findModelRoute(tx, id, { forUpdate: true });
        if (!current) throw new ApiError('not_found', 'No such route.');
        await deleteModelRoute(tx, id);
        await writeAudit(tx, actorOf(c), { action: 'model_route.delete', targetType: 'model_route', targetId: id, orgId: null, before: present(current) });
        await bumpManifestVersion(tx);
      });
      return c.body(null, 204);
    });
}
