// Queries on usage events: idempotent batch insert and the price versions used to cost them.

import type { Queryable } from '../db.ts';

export type PricedUsageRow = {
  id: string;
  request_id: string;
  key_id: string;
  org_id: string;
  user_id: string | null;
  model: string;
  supplier_id: string | null;
  region: string | null;
  endpoint: string;
  status: number;
  input_tokens: number;
  output_tokens: number;
  estimated: boolean;
  audio_seconds?: number;
  cost_micros: number;
  latency_ms: number;
  started_at: string;
};

/** Inserts the batch; rows whose id is already stored are skipped. Answers how many were new. */
export async function insertUsageEvents(db: Queryable, nodeId: string, rows: PricedUsageRow[]): Promise<number> {
  // One statement for the whole batch: the rows travel as one JSON parameter.
  const result = await db.query(
    `INSERT INTO usage_events (id, request_id, key_id, org_id, user_id, node_id, model, supplier_id, region, endpoint,
                               status, input_tokens, output_tokens, estimated, cost_micros, latency_ms, started_at, audio_seconds)
     SELECT e.id, e.request_id, e.key_id, e.org_id, e.user_id, $2, e.model, e.supplier_id, e.region, e.endpoint,
            e.status, e.input_tokens, e.output_tokens, e.estimated, e.cost_micros, e.latency_ms, e.started_at, COALESCE(e.audio_seconds, 0)
       FROM jsonb_to_recordset($1::jsonb) AS e(
              id uuid, request_id text, key_id uuid, org_id uuid, user_id uuid, model text, supplier_id text,
              region text, endpoint text, status integer, input_tokens integer, output_tokens integer,
              estimated boolean, cost_micros bigint, latency_ms integer, started_at timestamptz, audio_seconds numeric)
     ON CONFLICT (id) DO NOTHING`,
    [JSON.stringify(rows), nodeId],
  );
  return result.rowCount;
}

export interface PriceVersion {
  model_id: string;
  effective_from: Date;
  input_per_mtok: number;
  output_per_mtok: number;
  /** Audio: µUSD per second; null when the model is not priced by time. */
  per_second: number | null;
}

/** Every price version of the given models, newest first per model. */
export async function listPriceVersions(db: Queryable, modelIds: string[]): Promise<PriceVersion[]> {
  const { rows } = await db.query<{ model_id: string; effective_from: Date; input_per_mtok: string; output_per_mtok: string; per_second: string | null }>(
    `SELECT model_id, effective_from, input_per_mtok::text, output_per_mtok::text, per_second::text FROM model_prices
      WHERE model_id = ANY($1::text[]) ORDER BY model_id, effective_from DESC`,
    [modelIds],
  );
  return rows.map((r) => ({
    ...r,
    input_per_mtok: Number(r.input_per_mtok),
    output_per_mtok: Number(r.output_per_mtok),
    per_second: r.per_second === null ? null : Number(r.per_second),
  }));
}
