// Builds the manifest payload from one consistent snapshot of the database.

import type { Budget, KeyEntry, ManifestPayload, ModelEntry, Pricing, Region } from '../../shared/manifest.ts';
import { MANIFEST_FORMAT } from '../../shared/manifest.ts';
import type { Database } from '../db.ts';
import { listCatalog, listLiveKeys, listOrgStates, readManifestVersion, type CatalogRow, type ManifestKeyRow } from '../sql/manifest.ts';

const optionalMicros = (value: string | number | null | undefined) => (value === null || value === undefined ? null : Number(value));

function pricing(row: CatalogRow): Pricing | null {
  if (row.input_per_mtok === null || row.output_per_mtok === null) return null;
  return {
    input_per_mtok: Number(row.input_per_mtok),
    output_per_mtok: Number(row.output_per_mtok),
    cached_input_per_mtok: optionalMicros(row.cached_input_per_mtok),
    cache_write_per_mtok: optionalMicros(row.cache_write_per_mtok),
    per_second: optionalMicros(row.per_second),
    tiers: (row.tiers ?? []).map((t) => ({
      min_input_tokens: t.min_input_tokens,
      input_per_mtok: t.input_per_mtok,
      output_per_mtok: t.output_per_mtok,
      cached_input_per_mtok: optionalMicros(t.cached_input_per_mtok),
      cache_write_per_mtok: optionalMicros(t.cache_write_per_mtok),
    })),
  };
}

function budget(limit: string | null, period: Budget['period'] | null): Budget | null {
  return limit === null || period === null ? null : { limit_micros: Number(limit), period };
}

/** A key's entry under its hash, and under its previous secret's hash during a rotation overlap. */
export function keyEntries(k: ManifestKeyRow): [string, KeyEntry][] {
  const expiresAt = k.expires_at === null ? null : Number(k.expires_at);
  const entry: KeyEntry = {
    id: k.id,
    org_id: k.org_id,
    owner_id: k.owner_user_id,
    allowed_models: k.allowed_models,
    allowed_regions: k.allowed_regions as Region[],
    allowed_suppliers: k.allowed_suppliers,
    expires_at: expiresAt,
    budget: budget(k.budget_limit_micros, k.budget_period),
    owner_budget: budget(k.owner_budget_limit_micros, k.owner_budget_period),
    rate_limit_rpm: k.rate_limit_rpm,
    rate_limit_tpm: k.rate_limit_tpm,
  };
  if (k.owner_allowed_models?.length) entry.owner_allowed_models = k.owner_allowed_models;
  if (k.owner_allowed_regions?.length) entry.owner_allowed_regions = k.owner_allowed_regions as Region[];
  if (k.owner_allowed_suppliers?.length) entry.owner_allowed_suppliers = k.owner_allowed_suppliers;
  if (k.previous_key_hash === null || k.previous_expires_at === null) return [[k.key_hash, entry]];
  const previousEnd = Number(k.previous_expires_at);
  return [
    [k.key_hash, entry],
    [k.previous_key_hash, { ...entry, expires_at: expiresAt === null ? previousEnd : Math.min(expiresAt, previousEnd) }],
  ];
}

/** The catalog rows (one per model × route) as the manifest's model map. */
export function modelsFromCatalog(catalog: CatalogRow[]): Record<string, ModelEntry> {
  const models: Record<string, ModelEntry> = {};
  for (const row of catalog) {
    const model = (models[row.model_id] ??= {
      id: row.model_id,
      type: row.type,
      owned_by: row.owned_by,
      context_window: row.context_window,
      max_output_tokens: row.max_output_tokens,
      capabilities: row.capabilities,
      pricing: pricing(row),
      routes: [],
    });
    if (row.supplier_id !== null) {
      model.routes.push({
        supplier_id: row.supplier_id,
        format: row.format!,
        base_url: row.base_url!,
        region: row.region!,
        upstream_model: row.upstream_model!,
        priority: row.priority!,
        credential_id: row.credential_id,
      });
    }
  }
  return models;
}

export async function buildManifest(
  db: Database,
  options: { nowSeconds: number; ttlSeconds: number },
): Promise<ManifestPayload> {
  // REPEATABLE READ: the version and the rows it describes come from the same snapshot, so a
  // change committed mid-build cannot be published under a version that predates it.
  const { version, keys, orgs, catalog } = await db.transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return {
      version: await readManifestVersion(tx),
      keys: await listLiveKeys(tx),
      orgs: await listOrgStates(tx),
      catalog: await listCatalog(tx),
    };
  });

  const models = modelsFromCatalog(catalog);

  return {
    format: MANIFEST_FORMAT,
    version,
    issued_at: options.nowSeconds,
    expires_at: options.nowSeconds + options.ttlSeconds,
    keys: Object.fromEntries(keys.flatMap(keyEntries)),
    key_shards: [],
    orgs: Object.fromEntries(orgs.map((o) => [o.id, { status: o.status }])),
    models,
  };
}
