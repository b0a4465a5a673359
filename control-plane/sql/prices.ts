// Queries on versioned model prices: a version is inserted, never updated (a trigger refuses it).
// Money is integer µUSD; bigint columns travel as text and become numbers here (≤ 1e12, exact).

import type { Queryable } from '../db.ts';

export type PriceTier = {
  min_input_tokens: number;
  input_per_mtok: number;
  output_per_mtok: number;
  cached_input_per_mtok?: number;
  cache_write_per_mtok?: number;
};

export type PriceRow = {
  model_id: string;
  effective_from: Date;
  input_per_mtok: number;
  output_per_mtok: number;
  cached_input_per_mtok: number | null;
  cache_write_per_mtok: number | null;
  per_second: number | null;
  tiers: PriceTier[];
  /** Whether this is the version in force now (the one the manifest carries). */
  in_force: boolean;
  created_at: Date;
};

export type NewPrice = Omit<PriceRow, 'in_force' | 'created_at' | 'effective_from'> & { effective_from: string };

type RawPriceRow = Omit<PriceRow, 'input_per_mtok' | 'output_per_mtok' | 'cached_input_per_mtok' | 'cache_write_per_mtok' | 'per_second'> & {
  input_per_mtok: string;
  output_per_mtok: string;
  cached_input_per_mtok: string | null;
  cache_write_per_mtok: string | null;
  per_second: string | null;
};

const COLUMNS = `p.model_id, p.effective_from, p.input_per_mtok::text, p.output_per_mtok::text, p.cached_input_per_mtok::text,
                 p.cache_write_per_mtok::text, p.per_second::text, p.tiers, p.created_at,
                 p.effective_from = (SELECT max(effective_from) FROM model_prices c
                                      WHERE c.model_id = p.model_id AND c.effective_from <= now()) AS in_force`;

const optional = (value: string | null): number | null => (value === null ? null : Number(value));

function toPrice(r: RawPriceRow): PriceRow {
  return {
    ...r,
    input_per_mtok: Number(r.input_per_mtok),
    output_per_mtok: Number(r.output_per_mtok),
    cached_input_per_mtok: optional(r.cached_input_per_mtok),
    cache_write_per_mtok: optional(r.cache_write_per_mtok),
    per_second: optional(r.per_second),
  };
}

/** false when the model already has a version at exactly this instant (the caller answers 409). */
export async function insertPriceVersion(db: Queryable, p: NewPrice): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO model_prices (model_id, effective_from, input_per_mtok, output_per_mtok, cached_input_per_mtok,
                               cache_write_per_mtok, per_second, tiers)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (model_id, effective_from) DO NOTHING`,
    [p.model_id, p.effective_from, p.input_per_mtok, p.output_per_mtok, p.cached_input_per_mtok, p.cache_write_per_mtok, p.per_second, JSON.stringify(p.tiers)],
  );
  return rowCount === 1;
}

export async function findPriceVersion(db: Queryable, modelId: string, effectiveFrom: string): Promise<PriceRow | null> {
  const { rows } = await db.query<RawPriceRow>(`SELECT ${COLUMNS} FROM model_prices p WHERE p.model_id = $1 AND p.effective_from = $2`, [
    modelId,
    effectiveFrom,
  ]);
  return rows[0] ? toPrice(rows[0]) : null;
}

/** Versions newest first; `before` is the effective_from of the last row of the previous page. */
export async function listPriceVersions(db: Queryable, filter: { modelId: string; before: string | null; limit: number }): Promise<PriceRow[]> {
  const { rows } = await db.query<RawPriceRow>(
    `SELECT ${COLUMNS} FROM model_prices p
      WHERE p.model_id = $1 AND ($2::timestamptz IS NULL OR p.effective_from < $2::timestamptz)
      ORDER BY p.effective_from DESC LIMIT $3`,
    [filter.modelId, filter.before, filter.limit],
  );
  return rows.map(toPrice);
}
