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

export type ManifestKeyRow = {
  id: string;
  org_id: string;
  owner_user_id: string | null;
  key_hash: string;
  allowed_models: string[];
  allowed_regions: string[];
  allowed_suppliers: string[];
  expires_at: string | null;
};

export async function listLiveKeys(db: Queryable): Promise<ManifestKeyRow[]> {
  const { rows } = await db.query<ManifestKeyRow>(
    `SELECT id, org_id, owner_user_id, key_hash, allowed_models, allowed_regions, allowed_suppliers,
            floor(extract(epoch FROM expires_at))::bigint::text AS expires_at
       FROM api_keys
      WHERE status = 'active' AND (expires_at IS NULL OR expires_at > now())`,
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
  supplier_id: string | null;
  format: 'openai' | 'anthropic' | null;
  base_url: string | null;
  region: 'EU' | 'US' | 'APAC' | null;
  upstream_model: string | null;
  priority: number | null;
};

/** One row per (model, route), models without routes included; prices are those in force now. */
export async function listCatalog(db: Queryable): Promise<CatalogRow[]> {
  const { rows } = await db.query<CatalogRow>(
    `SELECT m.id AS model_id, m.type, m.owned_by, m.context_window, m.max_output_tokens, m.capabilities,
            p.input_per_mtok::text, p.output_per_mtok::text,
            r.supplier_id, s.format, s.base_url, s.region, r.upstream_model, r.priority
       FROM models m
       LEFT JOIN LATERAL (
              SELECT input_per_mtok, output_per_mtok FROM model_prices
               WHERE model_id = m.id AND effective_from <= now()
               ORDER BY effective_from DESC LIMIT 1) p ON true
       LEFT JOIN model_routes r ON r.model_id = m.id
       LEFT JOIN suppliers s ON s.id = r.supplier_id
      ORDER BY m.id, r.priority, r.supplier_id`,
  );
  return rows;
}
