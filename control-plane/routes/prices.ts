// /v1/manage/models/:id/prices: versioned prices (platform staff). Each POST adds a version that
// takes effect at `effective_from`; nothing ever updates one (migration 0003 makes the database
// refuse it too), so a usage row is always priced with the version in force when it started.

import { Hono } from 'hono';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import type { ApiSpec } from '../api-spec.ts';
import { writeAudit } from '../audit.ts';
import { requireCatalog } from '../catalog-access.ts';
import { ModelId, pathCatalogId } from '../catalog-ids.ts';
import type { Database } from '../db.ts';
import type { Page } from '../pagination.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { bumpManifestVersion } from '../sql/manifest.ts';
import { findModel } from '../sql/models.ts';
import { findPriceVersion, insertPriceVersion, listPriceVersions, type PriceRow } from '../sql/prices.ts';
import { parseJsonBody, parseQuery } from '../validation.ts';
import { isoTimestamp } from '../../shared/timestamp.ts';

/** Integer µUSD (per 1M tokens, or per second); above $1M per unit is a typo, not a price. */
const Micros = z.number().int().min(0).max(1_000_000_000_000);

const Tier = z.strictObject({
  min_input_tokens: z.number().int().min(1).max(100_000_000),
  input_per_mtok: Micros,
  output_per_mtok: Micros,
  cached_input_per_mtok: Micros.optional(),
  cache_write_per_mtok: Micros.optional(),
});

/** Context-size tiers: a request whose input reaches a tier's min_input_tokens is priced by the highest such tier. */
const Tiers = z
  .array(Tier)
  .max(16)
  .superRefine((tiers, ctx) => {
    tiers.forEach((tier, i) => {
      if (i > 0 && tier.min_input_tokens <= tiers[i - 1]!.min_input_tokens) {
        ctx.addIssue({ code: 'custom', path: [i, 'min_input_tokens'], message: "must be greater than the previous tier's" });
      }
    });
  });

export const CreatePrice = z.strictObject({
  effective_from: isoTimestamp({ offset: true }),
  input_per_mtok: Micros,
  output_per_mtok: Micros,
  cached_input_per_mtok: Micros.nullable().default(null),
  cache_write_per_mtok: Micros.nullable().default(null),
  per_second: Micros.nullable().default(null),
  tiers: Tiers.default([]),
});

export const ListPrices = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  /** The effective_from of the last version of the previous page (versions come newest first). */
  after: isoTimestamp({ offset: true }).optional(),
});

export const priceSpecs: ApiSpec[] = [
  { method: 'post', path: '/v1/manage/models/:id/prices', summary: 'Add a price version (integer µUSD per 1M tokens; platform staff)', tag: 'catalog', access: 'admin', body: CreatePrice, success: { status: 201, description: 'The price version' } },
  { method: 'get', path: '/v1/manage/models/:id/prices', summary: "List a model's price versions, newest first (platform staff)", tag: 'catalog', access: 'admin', query: ListPrices, success: { status: 200, description: 'A page of price versions' } },
];

/** Clock skew between an admin's machine and ours; an older effective_from is refused. */
const PAST_TOLERANCE_MS = 60_000;

function present(p: PriceRow) {
  return { object: 'model_price' as const, ...p, effective_from: p.effective_from.toISOString(), created_at: p.created_at.toISOString() };
}

/**
 * When a new version starts: never before now, so it cannot reprice a request that already ran
 * under the version in force. Up to a minute in the past (skew) starts now; earlier is refused.
 */
function startOf(requested: string, now: Date): string {
  const at = Date.parse(requested);
  if (at < now.getTime() - PAST_TOLERANCE_MS) {
    throw new ApiError('validation_failed', "Invalid value for 'effective_from': may not be in the past; a price in force is never rewritten.", { param: 'effective_from' });
  }
  return new Date(Math.max(at, now.getTime())).toISOString();
}

export function priceRoutes(deps: { db: Database; now: () => Date }) {
  return new Hono<AppEnv>()
    .post('/:id/prices', async (c) => {
      const body = await parseJsonBody(c, CreatePrice);
      requireCatalog(c.get('principal'), 'operate');
      const modelId = pathCatalogId(c, ModelId, 'model');
      const effectiveFrom = startOf(body.effective_from, deps.now());
      const price = await deps.db.transaction(async (tx) => {
        if (!(await findModel(tx, modelId))) throw new ApiError('not_found', 'No such model.');
        if (!(await insertPriceVersion(tx, { ...body, model_id: modelId, effective_from: effectiveFrom }))) {
          throw new ApiError('conflict', 'This model already has a price version starting at that instant.', { param: 'effective_from' });
        }
        const created = (await findPriceVersion(tx, modelId, effectiveFrom))!;
        await writeAudit(tx, actorOf(c), { action: 'model_price.create', targetType: 'model_price', targetId: `${modelId}@${effectiveFrom}`, orgId: null, after: present(created) });
        await bumpManifestVersion(tx);
        return created;
      });
      return c.json(present(price), 201);
    })
    .get('/:id/prices', async (c) => {
      const query = parseQuery(c, ListPrices);
      requireCatalog(c.get('principal'), 'read');
      const modelId = pathCatalogId(c, ModelId, 'model');
      if (!(await findModel(deps.db, modelId))) throw new ApiError('not_found', 'No such model.');
      const rows = await listPriceVersions(deps.db, { modelId, before: query.after ?? null, limit: query.limit + 1 });
      const page = rows.slice(0, query.limit);
      const answer: Page<ReturnType<typeof present>> = {
        object: 'list',
        data: page.map(present),
        next_cursor: rows.length > query.limit ? page[page.length - 1]!.effective_from.toISOString() : null,
      };
      return c.json(answer);
    });
}
