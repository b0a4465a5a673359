// The usage event: one per finished request, minted at the edge, ingested idempotently by `id`.
// It carries counts and metadata only, never prompt or completion text.

import { z } from 'zod';
import { ModelName } from './model-name.ts';
import { Region } from './manifest.ts';
import { isoTimestamp } from './timestamp.ts';

export const MAX_USAGE_BATCH = 1000;
/**
 * The counts' columns are PostgreSQL `integer`: a larger count would fail the ingest statement,
 * and a failed ingest is retried, oldest batch first, so it must be a 422 here (the outbox drops
 * the one event it refuses). The edge clamps a supplier's larger report to it (usage-event.ts).
 */
export const MAX_EVENT_COUNT = 2_147_483_647;
/** Audio seconds one event may carry. */
export const MAX_EVENT_AUDIO_SECONDS = 86_400;
const Count = z.number().int().nonnegative().max(MAX_EVENT_COUNT);

export const UsageEvent = z.object({
  /** UUIDv7 minted by the edge: the idempotency key of ingestion. */
  id: z.uuid(),
  request_id: z.string().min(1).max(64),
  key_id: z.uuid(),
  org_id: z.uuid(),
  user_id: z.uuid().nullable(),
  model: ModelName,
  supplier_id: z.string().max(100).nullable(),
  region: Region.nullable(),
  endpoint: z.string().max(100),
  status: z.number().int().min(100).max(599),
  /** The whole prompt: plain input + cache reads + cache writes (shared/pricing.ts). */
  input_tokens: Count,
  /** Everything generated, reasoning included. */
  output_tokens: Count,
  /** Parts of input_tokens / output_tokens; optional (0) so events from older edges still validate. */
  cached_input_tokens: Count.default(0),
  cache_write_tokens: Count.default(0),
  reasoning_tokens: Count.default(0),
  /** True when the supplier reported no usage and the counts are the edge's estimate. */
  estimated: z.boolean(),
  /** Audio surfaces, billed per second; optional so events from edges that predate it still validate. */
  audio_seconds: z.number().nonnegative().max(MAX_EVENT_AUDIO_SECONDS).default(0),
  started_at: isoTimestamp(),
  latency_ms: Count,
  /**
   * The allowance leases (org wallet, user budget, key budget/limits) this request's reservation
   * came from: ingestion moves its cost from those leases' holds to spent (ARCHITECTURE.md §4).
   */
  lease_ids: z.array(z.uuid()).max(3).default([]),
});
// The input shape: fields with defaults may be absent (older edges); readers take absent as 0 / [].
export type UsageEvent = z.input<typeof UsageEvent>;

export const UsageBatch = z.object({ events: z.array(UsageEvent).min(1).max(MAX_USAGE_BATCH) });
export type UsageBatch = z.input<typeof UsageBatch>;
