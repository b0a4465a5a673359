// Queries of usage ingestion: the price versions events are costed with, the monthly partitions
// of usage_events, the idempotent insert and the daily rollup (migration 0011).

import type { PriceTierLike, PriceVersionLike } from '../../shared/pricing.ts';
import type { Queryable } from '../db.ts';

/** An event as stored: priced, its owner taken from the key, audio seconds in whole milliseconds. */
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
  cached_input_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  estimated: boolean;
  /** Seconds × 1000, rounded once: the row, its cost and the rollup all use this same value. */
  audio_millis: number;
  cost_micros: number;
  unpriced: boolean;
  latency_ms: number;
  started_at: string;
};

/** A row the insert actually added, with the UTC day the database put it in. */
export type InsertedUsageRow = { id: string; day: string };

/**
 * Inserts the batch and answers the rows it added; a row whose (id, started_at) is already stored
 * is skipped. Rows go in (id, started_at) order: two transactions inserting overlapping batches
 * then meet their conflicts in the same order, so one waits for the other instead of each waiting
 * for the other (a deadlock).
 */
export async function insertUsageEvents(db: Queryable, nodeId: string, rows: readonly PricedUsageRow[]): Promise<InsertedUsageRow[]> {
  // One statement for the whole batch: the rows travel as one JSON parameter.
  const result = await db.query<InsertedUsageRow>(
    `INSERT INTO usage_events (id, request_id, key_id, org_id, user_id, node_id, model, supplier_id, region, endpoint, status,
                               input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens,
                               audio_seconds, estimated, unpriced, cost_micros, latency_ms, started_at)
     SELECT e.id, e.request_id, e.key_id, e.org_id, e.user_id, $2, e.model, e.supplier_id, e.region, e.endpoint, e.status,
            e.input_tokens, e.output_tokens, e.cached_input_tokens, e.cache_write_tokens, e.reasoning_tokens,
            e.audio_millis::numeric / 1000, e.estimated, e.unpriced, e.cost_micros, e.latency_ms, e.started_at
       FROM jsonb_to_recordset($1::jsonb) AS e(
              id uuid, request_id text, key_id uuid, org_id uuid, user_id uuid, model text, supplier_id text, region text,
              endpoint text, status integer, input_tokens integer, output_tokens integer, cached_input_tokens integer,
              cache_write_tokens integer, reasoning_tokens integer, audio_millis bigint, estimated boolean, unpriced boolean,
              cost_micros bigint, latency_ms integer, started_at timestamptz)
      ORDER BY e.id, e.started_at
     ON CONFLICT (id, started_at) DO NOTHING
     RETURNING id, to_char((started_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day`,
    [JSON.stringify(rows), nodeId],
  );
  return result.rows;
}

/** What one group adds to its usage_daily row. */
export type DailyIncrement = {
  day: string;
  org_id: string;
  key_id: string;
  user_id: string | null;
  model: string;
  supplier_id: string | null;
  region: string | null;
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  audio_millis: number;
  cost_micros: number;
  estimated_requests: number;
  unpriced_requests: number;
};

/**
 * Adds each group to its rollup row (creating it if new). Sorted by the group key in SQL, so every
 * transaction locks rollup rows in one order: concurrent batches wait for each other, never deadlock.
 */
export async function addToDailyRollups(db: Queryable, groups: readonly DailyIncrement[]): Promise<void> {
  if (groups.length === 0) return;
  await db.query(
    `INSERT INTO usage_daily AS d (day, org_id, key_id, user_id, model, supplier_id, region, requests, errors, input_tokens,
                                   output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, audio_seconds,
                                   cost_micros, estimated_requests, unpriced_requests)
     SELECT g.day, g.org_id, g.key_id, g.user_id, g.model, g.supplier_id, g.region, g.requests, g.errors, g.input_tokens,
            g.output_tokens, g.cached_input_tokens, g.cache_write_tokens, g.reasoning_tokens, g.audio_millis::numeric / 1000,
            g.cost_micros, g.estimated_requests, g.unpriced_requests
       FROM jsonb_to_recordset($1::jsonb) AS g(
              day date, org_id uuid, key_id uuid, user_id uuid, model text, supplier_id text, region text, requests bigint,
              errors bigint, input_tokens bigint, output_tokens bigint, cached_input_tokens bigint, cache_write_tokens bigint,
              reasoning_tokens bigint, audio_millis bigint, cost_micros bigint, estimated_requests bigint, unpriced_requests bigint)
      ORDER BY g.org_id, g.day, g.key_id, g.model COLLATE "C", g.user_id NULLS FIRST, g.supplier_id COLLATE "C" NULLS FIRST,
               g.region COLLATE "C" NULLS FIRST
     ON CONFLICT ON CONSTRAINT usage_daily_group DO UPDATE SET
       requests = d.requests + EXCLUDED.requests,
       errors = d.errors + EXCLUDED.errors,
       input_tokens = d.input_tokens + EXCLUDED.input_tokens,
       output_tokens = d.output_tokens + EXCLUDED.output_tokens,
       cached_input_tokens = d.cached_input_tokens + EXCLUDED.cached_input_tokens,
       cache_write_tokens = d.cache_write_tokens + EXCLUDED.cache_write_tokens,
       reasoning_tokens = d.reasoning_tokens + EXCLUDED.reasoning_tokens,
       audio_seconds = d.audio_seconds + EXCLUDED.audio_seconds,
       cost_micros = d.cost_micros + EXCLUDED.cost_micros,
       estimated_requests = d.estimated_requests + EXCLUDED.estimated_requests,
       unpriced_requests = d.unpriced_requests + EXCLUDED.unpriced_requests,
       updated_at = now()`,
    [JSON.stringify(groups)],
  );
}

/** Creates the partition of the UTC month starting `monthStart` (YYYY-MM-01) unless it exists. */
export async function ensureUsagePartition(db: Queryable, monthStart: string): Promise<void> {
  await db.query('SELECT usage_events_ensure_partition($1::date)', [monthStart]);
}

export type PriceVersion = PriceVersionLike;

type RawTier = { min_input_tokens: number; input_per_mtok: number; output_per_mtok: number; cached_input_per_mtok?: number; cache_write_per_mtok?: number };

const optional = (value: string | null): number | null => (value === null ? null : Number(value));

/** A stored tier leaves out the cache prices it does not have; the pricing function wants null. */
function toTier(t: RawTier): PriceTierLike {
  return {
    min_input_tokens: t.min_input_tokens,
    input_per_mtok: t.input_per_mtok,
    output_per_mtok: t.output_per_mtok,
    cached_input_per_mtok: t.cached_input_per_mtok ?? null,
    cache_write_per_mtok: t.cache_write_per_mtok ?? null,
  };
}

/** Every price version of the given models (bigint µUSD as text, exact as numbers below 2^53). */
export async function listPriceVersions(db: Queryable, modelIds: readonly string[]): Promise<PriceVersion[]> {
  if (modelIds.length === 0) return [];
  const { rows } = await db.query<{
    model_id: string;
    effective_from: Date;
    input_per_mtok: string;
    output_per_mtok: string;
    cached_input_per_mtok: string | null;
    cache_write_per_mtok: string | null;
    per_second: string | null;
    tiers: RawTier[];
  }>(
    `SELECT model_id, effective_from, input_per_mtok::text, output_per_mtok::text, cached_input_per_mtok::text,
            cache_write_per_mtok::text, per_second::text, tiers
       FROM model_prices WHERE model_id = ANY($1::text[])`,
    [modelIds],
  );
  return rows.map((r) => ({
    model_id: r.model_id,
    effective_from: r.effective_from,
    input_per_mtok: Number(r.input_per_mtok),
    output_per_mtok: Number(r.output_per_mtok),
    cached_input_per_mtok: optional(r.cached_input_per_mtok),
    cache_write_per_mtok: optional(r.cache_write_per_mtok),
    per_second: optional(r.per_second),
    tiers: r.tiers.map(toTier),
  }));
}
