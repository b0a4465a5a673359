// Usage ingestion: validates a node's batch against the keys it names, prices each event with the
// price version in force at its request time, and stores it idempotently by event id.

import { tokenCostMicros } from '../shared/money.ts';
import type { UsageEvent } from '../shared/usage.ts';
import type { Database } from './db.ts';
import { findKeyOwners } from './sql/keys.ts';
import { insertUsageEvents, listPriceVersions, type PriceVersion, type PricedUsageRow } from './sql/usage.ts';

export interface IngestResult {
  accepted: number;
  duplicates: number;
  /** Events naming a key that does not exist or belongs to another org: never retried. */
  rejected: string[];
}

/** Non-2xx requests are free (PRODUCT.md §5); so is a model with no price in force. */
export function costOf(event: UsageEvent, prices: PriceVersion[]): number {
  if (event.status < 200 || event.status > 299) return 0;
  const at = Date.parse(event.started_at);
  const price = prices.find((p) => p.model_id === event.model && p.effective_from.getTime() <= at);
  if (!price) return 0;
  return (
    tokenCostMicros(event.input_tokens, price.input_per_mtok) +
    tokenCostMicros(event.output_tokens, price.output_per_mtok) +
    secondsCostMicros(event.audio_seconds ?? 0, price.per_second)
  );
}

/** Audio seconds (to the millisecond) × µUSD per second, in BigInt, rounded half up once per row. */
export function secondsCostMicros(seconds: number, perSecondMicros: number | null): number {
  if (perSecondMicros === null || seconds <= 0) return 0;
  const millis = BigInt(Math.round(seconds * 1000));
  return Number((millis * BigInt(perSecondMicros) + 500n) / 1000n);
}

export async function ingestUsage(db: Database, nodeId: string, events: UsageEvent[]): Promise<IngestResult> {
  const owners = await findKeyOwners(db, [...new Set(events.map((e) => e.key_id))]);
  const valid = events.filter((e) => owners.get(e.key_id)?.orgId === e.org_id);
  const rejected = events.filter((e) => !valid.includes(e)).map((e) => e.id);
  const prices = await listPriceVersions(db, [...new Set(valid.map((e) => e.model))]);
  const rows: PricedUsageRow[] = valid.map((e) => ({
    ...e,
    // The key's owner as the database knows it, not as the edge says.
    user_id: owners.get(e.key_id)!.ownerUserId,
    cost_micros: costOf(e, prices),
  }));
  const accepted = rows.length === 0 ? 0 : await insertUsageEvents(db, nodeId, rows);
  return { accepted, duplicates: valid.length - accepted, rejected };
}
