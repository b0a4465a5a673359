// Queries behind the manifest: its version counter and the rows it is built from.

import type { Queryable } from '../db.ts';

/** Marks that edges must see a new manifest; call it inside the transaction of the change. */
export async function bumpManifestVersion(tx: Queryable): Promise<void> {
  await tx.query('UPDATE manifest_state SET version = version + 1, changed_at = now()');
}

export async function readManifestVersion(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ version: string }>('SELECT version FROM manifest_state');
  return Number(rows[0]!.version);
}

type BudgetPeriod = 'daily' | 'monthly' | 'cumulative';

export type ManifestKeyRow = {
  id: string;
  org_id: string;
  owner_user_id: string | null;
  key_hash: string;
  /** Epoch seconds as text (bigint); null = no end. */
  expires_at: string | null;
  previous_key_hash: string | null;
  previous_expires_at: string | null;
  allowed_models: string[];
  allowed_regions: string[];
  allowed_suppliers: string[];
  budget_limit_micros: string | null;
  budget_period: BudgetPeriod | null;
  rate_limit_rpm: number | null;
  rate_limit_tpm: number | null;
  owner_budget_limit_micros: string | null;
  owner_budget_period: BudgetPeriod | null;
  /** The owner's membership allowlists; empty (or null without an owner) = everything. */
  owner_allowed_models: string[] | null;
  owner_allowed_regions: string[] | null;
  owner_allowed_suppliers: string[] | null;
};

/**
 * Keys that may authenticate now: active, unexpired, and (when owned) owned by an active user who
 * is still a member of the key's org — disabling a user or removing a membership stops their keys.
 */
export async function listLiveKeys(db: Queryable, options: { hashes?: string[] } = {}): Promise<ManifestKeyRow[]> {
  // With `hashes`: only the keys holding one of them (current or previous secret), for a delta.
  // Ordered, so every control-plane replica building the same version cuts the same key shards
  // (same bytes, same digests): an edge may fetch the snapshot from one replica and its shards
  // from another.
  const filter = options.hashes ? 'AND (k.key_hash = ANY($1::text[]) OR k.previous_key_hash = ANY($1::text[]))' : '';
  const { rows } = await db.query<ManifestKeyRow>(
    `SELECT k.id, k.org_id, k.owner_user_id, k.key_hash,
            floor(extract(epoch FROM k.expires_at))::bigint::text AS expires_at,
            CASE WHEN k.previous_key_expires_at > now() THEN k.previous_key_hash END AS previous_key_hash,
            floor(extract(epoch FROM k.previous_key_expires_at))::bigint::text AS previous_expires_at,
            k.allowed_models, k.allowed_regions, k.allowed_suppliers,
            k.budget_limit_micros::text, k.budget_period, k.rate_limit_rpm, k.rate_limit_tpm,
            m.budget_limit_micros::text AS owner_budget_limit_micros, m.budget_period AS owner_budget_period,
            m.allowed_models AS owner_allowed_models, m.allowed_regions AS owner_allowed_regions,
            m.allowed_suppliers AS owner_allowed_suppliers
       FROM api_keys k
       LEFT JOIN users u ON u.id = k.owner_user_id
       LEFT JOIN org_members m ON m.org_id = k.org_id AND m.user_id = k.owner_user_id
      WHERE k.status = 'active' AND (k.expires_at IS NULL OR k.expires_at > now())
        AND (k.owner_user_id IS NULL OR (u.status = 'active' AND m.user_id IS NOT NULL)) ${filter}
      ORDER BY k.key_hash`,
    options.hashes ? [options.hashes] : [],
  );
  return rows;
}

export async function listOrgStates(db: Queryable): Promise<{ id: string; status: 'active' | 'suspended' }[]> {
  const { rows } = await db.query<{ id: string; status: 'active' | 'suspended' }>('SELECT id, status FROM orgs');
  return rows;
}

export type CatalogRow = {
  model_id: string;
  type: string;
  owned_by: string;
  context_window: number | null;
  max_output_tokens: number | null;
  capabilities: string[];
  input_per_mtok: string | null;
  output_per_mtok: string | null;
  cached_input_per_mtok: string | null;
  cache_write_per_mtok: string | null;
  per_second: string | null;
  /** As stored: [{min_input_tokens, input_per_mtok, output_per_mtok, cached_input_per_mtok?, cache_write_per_mtok?}]. */
  tiers: { min_input_tokens: number; input_per_mtok: number; output_per_mtok: number; cached_input_per_mtok?: number | null; cache_write_per_mtok?: number | null }[] | null;
  credential_id: string | null;
  supplier_id: string | null;
  format: 'openai' | 'anthropic' | null;
  base_url: string | null;
  region: 'EU' | 'US' | 'APAC' | null;
  upstream_model: string | null;
  priority: number | null;
};

/**
 * One row per (model, route), models without routes included; prices are those in force now.
 * Disabled models are left out, and so are routes that are disabled or lead to a disabled supplier.
 */
export async function listCatalog(db: Queryable): Promise<CatalogRow[]> {
  const { rows } = await db.query<CatalogRow>(
    `SELECT m.id AS model_id, m.type, m.owned_by, m.context_window, m.max_output_tokens, m.capabilities,
            p.input_per_mtok::text, p.output_per_mtok::text, p.cached_input_per_mtok::text,
            p.cache_write_per_mtok::text, p.per_second::text, p.tiers,
            r.supplier_id, s.format, s.base_url, s.region, r.upstream_model, r.priority, r.credential_id
       FROM models m
       LEFT JOIN LATERAL (
              SELECT input_per_mtok, output_per_mtok, cached_input_per_mtok, cache_write_per_mtok, per_second, tiers
                FROM model_prices
               WHERE model_id = m.id AND effective_from <= now()
               ORDER BY effective_from DESC LIMIT 1) p ON true
       LEFT JOIN (model_routes r JOIN suppliers s ON s.id = r.supplier_id AND s.status = 'active')
              ON r.model_id = m.id AND r.status = 'active'
      WHERE m.status = 'active'
      ORDER BY m.id, r.priority, r.supplier_id`,
  );
  return rows;
}

/** When the next scheduled price version takes effect (after `after`), or null: the manifest must be rebuilt then. */
export async function nextPriceChange(db: Queryable, after: Date): Promise<Date | null> {
  const { rows } = await db.query<{ at: Date | null }>('SELECT min(effective_from) AS at FROM model_prices WHERE effective_from > $1', [after]);
  return rows[0]?.at ?? null;
}
