// Queries of the usage API. Every aggregate is answered from the daily rollup (usage_daily); only
// the lookup of one request reads a raw row. Column names come from a closed list, never from input.

import type { Queryable } from '../db.ts';

export type UsageDimension = 'key' | 'user' | 'model' | 'supplier' | 'region';

/** The grouping columns, in the one order they are selected, sorted and put in a cursor. */
export const DIMENSIONS: readonly UsageDimension[] = ['key', 'user', 'model', 'supplier', 'region'];

export const DIMENSION_COLUMNS = {
  key: 'key_id',
  user: 'user_id',
  model: 'model',
  supplier: 'supplier_id',
  region: 'region',
} as const satisfies Record<UsageDimension, string>;

/**
 * Which usage rows a caller may read: every row of `fullOrgIds` (null: of every org), plus, in
 * `ownOrgIds`, the rows of keys owned by `userId` (a plain member sees only their own keys).
 */
export interface UsageScope {
  fullOrgIds: readonly string[] | null;
  ownOrgIds: readonly string[];
  userId: string;
}

export interface UsageFilter {
  keyId: string | null;
  userId: string | null;
  model: string | null;
  supplierId: string | null;
  region: string | null;
  /** UTC days, both inclusive (YYYY-MM-DD). */
  from: string;
  to: string;
}

/** Summed metrics, bigint as text (exact). */
export type UsageTotals = {
  requests: string;
  errors: string;
  input_tokens: string;
  output_tokens: string;
  cached_input_tokens: string;
  cache_write_tokens: string;
  reasoning_tokens: string;
  audio_seconds: string;
  cost_micros: string;
  estimated_requests: string;
  unpriced_requests: string;
};

export type UsageBucketRow = UsageTotals & { day: string } & Partial<Record<(typeof DIMENSION_COLUMNS)[UsageDimension], string | null>>;

export type UsageMonthRow = UsageTotals & { month: string; org_id: string };

const SUMS = `sum(requests)::text AS requests, sum(errors)::text AS errors, sum(input_tokens)::text AS input_tokens,
              sum(output_tokens)::text AS output_tokens, sum(cached_input_tokens)::text AS cached_input_tokens,
              sum(cache_write_tokens)::text AS cache_write_tokens, sum(reasoning_tokens)::text AS reasoning_tokens,
              sum(audio_seconds)::text AS audio_seconds, sum(cost_micros)::text AS cost_micros,
              sum(estimated_requests)::text AS estimated_requests, sum(unpriced_requests)::text AS unpriced_requests`;

/** $1..$3 are the scope. */
const SCOPE = `($1::uuid[] IS NULL OR org_id = ANY($1::uuid[]) OR (org_id = ANY($2::uuid[]) AND user_id = $3::uuid))`;

function scopeParams(s: UsageScope): unknown[] {
  // A null fullOrgIds means every org; an empty own list still needs an array, not null.
  return [s.fullOrgIds === null ? null : [...s.fullOrgIds], [...s.ownOrgIds], s.userId];
}

/** How a grouping column sorts and compares in a cursor: as text, nulls first (as ''), bytewise. */
const sortKey = (column: string) => `COALESCE(${column}::text, '') COLLATE "C"`;

/**
 * One page of usage per UTC day and the chosen dimensions, in (day, dimensions) order. `after` is
 * the sort key of the last group already read: [day, ...one text per dimension, '' for null].
 */
export async function listUsageBuckets(
  db: Queryable,
  q: { scope: UsageScope; filter: UsageFilter; groupBy: readonly UsageDimension[]; after: readonly string[] | null; limit: number },
): Promise<UsageBucketRow[]> {
  const columns = DIMENSIONS.filter((d) => q.groupBy.includes(d)).map((d) => DIMENSION_COLUMNS[d]);
  const f = q.filter;
  const params: unknown[] = [...scopeParams(q.scope), f.keyId, f.userId, f.model, f.supplierId, f.region, f.from, f.to, q.limit];
  let cursor = '';
  if (q.after !== null) {
    const keys = [`day`, ...columns.map(sortKey)];
    const placeholders = q.after.map((value, i) => {
      params.push(value);
      return i === 0 ? `$${params.length}::date` : `$${params.length}::text`;
    });
    cursor = `AND (${keys.join(', ')}) > (${placeholders.join(', ')})`;
  }
  const select = ["to_char(day, 'YYYY-MM-DD') AS day", ...columns.map((c) => `${c}::text AS ${c}`)].join(', ');
  const { rows } = await db.query<UsageBucketRow>(
    `SELECT ${select}, ${SUMS}
       FROM usage_daily
      WHERE ${SCOPE}
        AND ($4::uuid IS NULL OR key_id = $4::uuid)
        AND ($5::uuid IS NULL OR user_id = $5::uuid)
        AND ($6::text IS NULL OR model = $6::text)
        AND ($7::text IS NULL OR supplier_id = $7::text)
        AND ($8::text IS NULL OR region = $8::text)
        AND day BETWEEN $9::date AND $10::date
        ${cursor}
      GROUP BY ${['day', ...columns].join(', ')}
      ORDER BY ${['day', ...columns.map(sortKey)].join(', ')}
      LIMIT $11`,
    params,
  );
  return rows;
}

/** One page of per-org monthly totals in (month, org) order; `after` is [YYYY-MM, org id]. */
export async function listUsageMonths(
  db: Queryable,
  q: { scope: UsageScope; fromDay: string; toDayExclusive: string; after: readonly [string, string] | null; limit: number },
): Promise<UsageMonthRow[]> {
  const { rows } = await db.query<UsageMonthRow>(
    `SELECT to_char(date_trunc('month', day), 'YYYY-MM') AS month, org_id::text AS org_id, ${SUMS}
       FROM usage_daily
      WHERE ${SCOPE}
        AND day >= $4::date AND day < $5::date
        AND ($6::text IS NULL OR (to_char(date_trunc('month', day), 'YYYY-MM'), org_id) > ($6::text, $7::uuid))
      GROUP BY 1, usage_daily.org_id
      ORDER BY 1, usage_daily.org_id
      LIMIT $8`,
    [...scopeParams(q.scope), q.fromDay, q.toDayExclusive, q.after?.[0] ?? null, q.after?.[1] ?? null, q.limit],
  );
  return rows;
}

export type UsageEventRow = {
  id: string;
  request_id: string;
  org_id: string;
  key_id: string;
  user_id: string | null;
  node_id: string;
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
  audio_seconds: string;
  estimated: boolean;
  unpriced: boolean;
  cost_micros: string;
  latency_ms: number;
  started_at: Date;
  received_at: Date;
};

/** The raw row of one request, if the scope may see it (the oldest, should an id repeat). */
export async function findUsageByRequestId(db: Queryable, scope: UsageScope, requestId: string): Promise<UsageEventRow | null> {
  const { rows } = await db.query<UsageEventRow>(
    `SELECT id, request_id, org_id, key_id, user_id, node_id, model, supplier_id, region, endpoint, status, input_tokens,
            output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, audio_seconds::text, estimated, unpriced,
            cost_micros::text, latency_ms, started_at, received_at
       FROM usage_events
      WHERE ${SCOPE} AND request_id = $4
      ORDER BY started_at, id LIMIT 1`,
    [...scopeParams(scope), requestId],
  );
  return rows[0] ?? null;
}
