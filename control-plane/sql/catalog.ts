// Writes to the model catalog. The full catalog API is issue 3; until then the demo catalog and
// the tests use these directly, each inside an audited transaction.

import type { Queryable } from '../db.ts';

export interface SupplierInput {
  id: string;
  name: string;
  format: 'openai' | 'anthropic';
  baseUrl: string;
  region: 'EU' | 'US' | 'APAC';
}

export async function upsertSupplier(db: Queryable, s: SupplierInput): Promise<void> {
  await db.query(
    `INSERT INTO suppliers (id, name, format, base_url, region) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, format = EXCLUDED.format,
       base_url = EXCLUDED.base_url, region = EXCLUDED.region`,
    [s.id, s.name, s.format, s.baseUrl, s.region],
  );
}

export interface ModelInput {
  id: string;
  type: string;
  ownedBy: string;
  contextWindow: number | null;
  maxOutputTokens: number | null;
  capabilities: string[];
}

export async function upsertModel(db: Queryable, m: ModelInput): Promise<void> {
  await db.query(
    `INSERT INTO models (id, type, owned_by, context_window, max_output_tokens, capabilities)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO UPDATE SET type = EXCLUDED.type, owned_by = EXCLUDED.owned_by,
       context_window = EXCLUDED.context_window, max_output_tokens = EXCLUDED.max_output_tokens,
       capabilities = EXCLUDED.capabilities`,
    [m.id, m.type, m.ownedBy, m.contextWindow, m.maxOutputTokens, m.capabilities],
  );
}

export async function upsertRoute(
  db: Queryable,
  r: { id: string; modelId: string; supplierId: string; upstreamModel: string; priority: number },
): Promise<void> {
  await db.query(
    `INSERT INTO model_routes (id, model_id, supplier_id, upstream_model, priority) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (model_id, supplier_id, upstream_model) DO UPDATE SET priority = EXCLUDED.priority`,
    [r.id, r.modelId, r.supplierId, r.upstreamModel, r.priority],
  );
}

export async function insertPrice(
  db: Queryable,
  p: { modelId: string; effectiveFrom: string; inputPerMtok: number; outputPerMtok: number },
): Promise<void> {
  await db.query(
    `INSERT INTO model_prices (model_id, effective_from, input_per_mtok, output_per_mtok) VALUES ($1, $2, $3, $4)
     ON CONFLICT (model_id, effective_from) DO NOTHING`,
    [p.modelId, p.effectiveFrom, p.inputPerMtok, p.outputPerMtok],
  );
}
