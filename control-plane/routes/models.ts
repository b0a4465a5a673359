// /v1/manage/models: the public models clients ask for by id (platform staff).

import { Hono } from 'hono';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import type { ApiSpec } from '../api-spec.ts';
import { writeAudit } from '../audit.ts';
import { requireCatalog } from '../catalog-access.ts';
import { CatalogPageQuery, ModelId, pathCatalogId } from '../catalog-ids.ts';
import type { Database } from '../db.ts';
import { toPage } from '../pagination.ts';
import { applyPatch, changesAnything, patchOf } from '../patch.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { bumpManifestVersion } from '../sql/manifest.ts';
import { findModel, insertModel, listModels, updateModel, type ModelFields, type ModelRow } from '../sql/models.ts';
import { parseJsonBody, parseQuery } from '../validation.ts';

/** What API surface a model serves (PRODUCT.md §1): chat covers chat completions, messages and responses. */
export const ModelType = z.enum(['chat', 'embedding', 'rerank', 'transcription', 'speech']);
const ModelStatus = z.enum(['active', 'disabled']);
const TokenLimit = z.number().int().min(1).max(100_000_000).nullable();
const Capabilities = z
  .array(z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'lower-case letters, digits and _ . -; at most 64'))
  .max(32)
  .refine((list) => new Set(list).size === list.length, 'must not repeat a capability');

const modelFields = {
  type: ModelType,
  owned_by: z.string().trim().min(1).max(200),
  context_window: TokenLimit,
  max_output_tokens: TokenLimit,
  capabilities: Capabilities,
  status: ModelStatus,
};

export const CreateModel = z.strictObject({
  id: ModelId,
  ...modelFields,
  type: ModelType.default('chat'),
  context_window: TokenLimit.default(null),
  max_output_tokens: TokenLimit.default(null),
  capabilities: Capabilities.default([]),
  status: ModelStatus.default('active'),
});
export const UpdateModel = patchOf(modelFields);

export const modelSpecs: ApiSpec[] = [
  { method: 'post', path: '/v1/manage/models', summary: 'Add a public model (platform staff)', tag: 'catalog', access: 'admin', body: CreateModel, success: { status: 201, description: 'The model' } },
  { method: 'get', path: '/v1/manage/models', summary: 'List public models (platform staff)', tag: 'catalog', access: 'admin', query: CatalogPageQuery, success: { status: 200, description: 'A page of models' } },
  { method: 'get', path: '/v1/manage/models/:id', summary: 'Read a model; percent-encode a `/` in its id (platform staff)', tag: 'catalog', access: 'admin', success: { status: 200, description: 'The model' } },
  { method: 'patch', path: '/v1/manage/models/:id', summary: 'Change or disable a model (platform staff)', tag: 'catalog', access: 'admin', body: UpdateModel, success: { status: 200, description: 'The model' } },
];

function present(m: ModelRow) {
  return {
    object: 'model' as const,
    id: m.id,
    type: m.type,
    owned_by: m.owned_by,
    context_window: m.context_window,
    max_output_tokens: m.max_output_tokens,
    capabilities: m.capabilities,
    status: m.status,
    created_at: m.created_at.toISOString(),
  };
}

/** A model cannot promise more output than its whole context holds. */
function checkLimits(m: Pick<ModelFields, 'context_window' | 'max_output_tokens'>): void {
  if (m.context_window !== null && m.max_output_tokens !== null && m.max_output_tokens > m.context_window) {
    throw new ApiError('validation_failed', "Invalid value for 'max_output_tokens': may not exceed context_window.", { param: 'max_output_tokens' });
  }
}

export function modelRoutes(deps: { db: Database }) {
  return new Hono<AppEnv>()
    .post('/', async (c) => {
      const body = await parseJsonBody(c, CreateModel);
      requireCatalog(c.get('principal'), 'operate');
      checkLimits(body);
      const model = await deps.db.transaction(async (tx) => {
        const created = await insertModel(tx, body);
        if (!created) throw new ApiError('conflict', `Model '${body.id}' already exists.`, { param: 'id' });
        await writeAudit(tx, actorOf(c), { action: 'model.create', targetType: 'model', targetId: created.id, orgId: null, after: present(created) });
        await bumpManifestVersion(tx);
        return created;
      });
      return c.json(present(model), 201);
    })
    .get('/', async (c) => {
      const query = parseQuery(c, CatalogPageQuery);
      requireCatalog(c.get('principal'), 'read');
      const rows = await listModels(deps.db, { after: query.after ?? null, limit: query.limit + 1 });
      return c.json(toPage(rows, query.limit, present));
    })
    .get('/:id', async (c) => {
      requireCatalog(c.get('principal'), 'read');
      const model = await findModel(deps.db, pathCatalogId(c, ModelId, 'model'));
      if (!model) throw new ApiError('not_found', 'No such model.');
      return c.json(present(model));
    })
    .patch('/:id', async (c) => {
      const body = await parseJsonBody(c, UpdateModel);
      requireCatalog(c.get('principal'), 'operate');
      const id = pathCatalogId(c, ModelId, 'model');
      const model = await deps.db.transaction(async (tx) => {
        const current = await findModel(tx, id, { forUpdate: true });
        if (!current) throw new ApiError('not_found', 'No such model.');
        const next = applyPatch(current, body);
        checkLimits(next);
        if (!changesAnything(current, next)) return current;
        const updated = await updateModel(tx, id, next);
        await writeAudit(tx, actorOf(c), { action: 'model.update', targetType: 'model', targetId: id, orgId: null, before: present(current), after: present(updated) });
        await bumpManifestVersion(tx);
        return updated;
      });
      return c.json(present(model));
    });
}
