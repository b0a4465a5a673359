// /v1/manage/suppliers: the inference suppliers routes point at (platform owner writes, staff reads).

import { Hono } from 'hono';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import { Region, SupplierFormat } from '../../shared/manifest.ts';
import type { ApiSpec } from '../api-spec.ts';
import { writeAudit } from '../audit.ts';
import { requireCatalog } from '../catalog-access.ts';
import { CatalogPageQuery, pathCatalogId, SupplierId } from '../catalog-ids.ts';
import type { Database } from '../db.ts';
import { OutboundUrl } from '../outbound-url.ts';
import { toPage } from '../pagination.ts';
import { applyPatch, changesAnything, patchOf } from '../patch.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { bumpManifestVersion } from '../sql/manifest.ts';
import { findSupplier, insertSupplier, listSuppliers, updateSupplier, type SupplierRow } from '../sql/suppliers.ts';
import { parseJsonBody, parseQuery } from '../validation.ts';

const SupplierStatus = z.enum(['active', 'disabled']);
const supplierFields = {
  name: z.string().trim().min(1).max(200),
  format: SupplierFormat,
  base_url: OutboundUrl,
  region: Region,
  status: SupplierStatus,
};

export const CreateSupplier = z.strictObject({ id: SupplierId, ...supplierFields, status: SupplierStatus.default('active') });
export const UpdateSupplier = patchOf(supplierFields);

export const supplierSpecs: ApiSpec[] = [
  { method: 'post', path: '/v1/manage/suppliers', summary: 'Add a supplier (platform owner)', tag: 'catalog', access: 'admin', body: CreateSupplier, success: { status: 201, description: 'The supplier' } },
  { method: 'get', path: '/v1/manage/suppliers', summary: 'List suppliers (platform staff)', tag: 'catalog', access: 'admin', query: CatalogPageQuery, success: { status: 200, description: 'A page of suppliers' } },
  { method: 'get', path: '/v1/manage/suppliers/:id', summary: 'Read a supplier (platform staff)', tag: 'catalog', access: 'admin', success: { status: 200, description: 'The supplier' } },
  { method: 'patch', path: '/v1/manage/suppliers/:id', summary: 'Change or disable a supplier (platform owner)', tag: 'catalog', access: 'admin', body: UpdateSupplier, success: { status: 200, description: 'The supplier' } },
];

function present(s: SupplierRow) {
  return { object: 'supplier' as const, id: s.id, name: s.name, format: s.format, base_url: s.base_url, region: s.region, status: s.status, created_at: s.created_at.toISOString() };
}

export function supplierRoutes(deps: { db: Database }) {
  return new Hono<AppEnv>()
    .post('/', async (c) => {
      const body = await parseJsonBody(c, CreateSupplier);
      requireCatalog(c.get('principal'), 'suppliers');
      const supplier = await deps.db.transaction(async (tx) => {
        const created = await insertSupplier(tx, body);
        if (!created) throw new ApiError('conflict', `Supplier '${body.id}' already exists.`, { param: 'id' });
        await writeAudit(tx, actorOf(c), { action: 'supplier.create', targetType: 'supplier', targetId: created.id, orgId: null, after: present(created) });
        await bumpManifestVersion(tx);
        return created;
      });
      return c.json(present(supplier), 201);
    })
    .get('/', async (c) => {
      const query = parseQuery(c, CatalogPageQuery);
      requireCatalog(c.get('principal'), 'read');
      const rows = await listSuppliers(deps.db, { after: query.after ?? null, limit: query.limit + 1 });
      return c.json(toPage(rows, query.limit, present));
    })
    .get('/:id', async (c) => {
      requireCatalog(c.get('principal'), 'read');
      const supplier = await findSupplier(deps.db, pathCatalogId(c, SupplierId, 'supplier'));
      if (!supplier) throw new ApiError('not_found', 'No such supplier.');
      return c.json(present(supplier));
    })
    .patch('/:id', async (c) => {
      const body = await parseJsonBody(c, UpdateSupplier);
      requireCatalog(c.get('principal'), 'suppliers');
      const id = pathCatalogId(c, SupplierId, 'supplier');
      const supplier = await deps.db.transaction(async (tx) => {
        const current = await findSupplier(tx, id, { forUpdate: true });
        if (!current) throw new ApiError('not_found', 'No such supplier.');
        const next = applyPatch(current, body);
        if (!changesAnything(current, next)) return current;
        const updated = await updateSupplier(tx, id, next);
        await writeAudit(tx, actorOf(c), { action: 'supplier.update', targetType: 'supplier', targetId: id, orgId: null, before: present(current), after: present(updated) });
        await bumpManifestVersion(tx);
        return updated;
      });
      return c.json(present(supplier));
    });
}
