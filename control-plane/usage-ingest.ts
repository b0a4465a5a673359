// Usage ingestion: checks a node's batch against the keys it names, prices each event with the
// version in force at its start (shared/pricing.ts, the arithmetic the edge uses too), and in one
// transaction stores the new events, adds them to the daily rollup and debits the wallets. A
// replayed event is skipped by the insert and so adds to nothing else: idempotent by event id.

import { applyLeaseUsage } from './sql/allowances.ts';
import { createHash } from 'node:crypto';
import { costOf } from '../shared/pricing.ts';
import type { UsageEvent } from '../shared/usage.ts';
import type { Database, Queryable } from './db.ts';
import { logLowBalanceAlerts, postUsageDebits } from './ledger.ts';
import { jsonLogger, type Logger } from './log.ts';
import { findKeyOwners } from './sql/keys.ts';
import { addToDailyRollups, ensureUsagePartition, insertUsageEvents, listPriceVersions, type DailyIncrement, type PriceVersion, type PricedUsageRow } from './sql/usage.ts';

export interface IngestResult {
  accepted: number;
  duplicates: number;
  /** Events naming a key that does not exist or belongs to another org: never retried. */
  rejected: string[];
}

export interface IngestOptions {
  log?: Logger;
  now?: () => Date;
}

/** A priced row of this batch, as the lease accounting sees it. */
export type IngestedRow = PricedUsageRow & { lease_ids: readonly string[]; day: string };

/**
 * Partitions are made for events of the last 24 months (the retention, PRODUCT.md §6) up to next
 * month. An event outside that window (an edge with a wrong clock) is still stored, in the
 * default partition, and moves out if its month's partition is ever made.
 */
const PARTITION_MONTHS_BACK = 24;
const PARTITION_MONTHS_AHEAD = 1;

export async function ingestUsage(db: Database, nodeId: string, events: readonly UsageEvent[], options: IngestOptions = {}): Promise<IngestResult> {
  const log = options.log ?? jsonLogger;
  const owners = await findKeyOwners(db, [...new Set(events.map((e) => e.key_id))]);
  const valid = firstOfEachId(events.filter((e) => owners.get(e.key_id)?.orgId === e.org_id));
  const rejected = events.filter((e) => owners.get(e.key_id)?.orgId !== e.org_id).map((e) => e.id);
  if (valid.length === 0) return { accepted: 0, duplicates: events.length - rejected.length, rejected };

  const prices = await listPriceVersions(db, [...new Set(valid.map((e) => e.model))]);
  const rows = valid.map((e) => priceRow(e, prices, owners.get(e.key_id)!.ownerUserId));
  await ensurePartitions(db, rows, (options.now ?? (() => new Date()))());

  const { inserted, alerts } = await db.transaction(async (tx) => {
    const added = await insertUsageEvents(tx, nodeId, rows);
    if (added.length === 0) return { inserted: [], alerts: [] };
    const byId = new Map(rows.map((r) => [r.id, r]));
    const inserted: IngestedRow[] = added.map((a) => ({ ...byId.get(a.id)!, day: a.day }));
    await addToDailyRollups(tx, dailyIncrements(inserted));
    const alerts = await postUsageDebits(tx, orgDebits(inserted), ledgerRef(inserted), { actor: `usage:${nodeId}` });
    // The same cost moves out of the holds of the leases the events were admitted under.
    await applyLeaseUsage(tx, nodeId, inserted);
    return { inserted, alerts };
  });

  logLowBalanceAlerts(log, alerts);
  logUnpriced(log, nodeId, inserted);
  return { accepted: inserted.length, duplicates: events.length - rejected.length - inserted.length, rejected };
}

/** An id twice in one batch is one event (the edge replays, never re-mints): the first copy counts. */
function firstOfEachId(events: readonly UsageEvent[]): UsageEvent[] {
  const seen = new Set<string>();
  return events.filter((e) => !seen.has(e.id) && seen.add(e.id));
}

function priceRow(e: UsageEvent, prices: readonly PriceVersion[], ownerUserId: string | null): PricedUsageRow & { lease_ids: readonly string[] } {
  // Seconds to the millisecond, once: the row, its cost and the rollup all hold this value.
  const audioMillis = Math.round((e.audio_seconds ?? 0) * 1000);
  const { cost_micros, unpriced } = costOf({ ...e, audio_seconds: audioMillis / 1000 }, prices);
  return {
    id: e.id,
    request_id: e.request_id,
    key_id: e.key_id,
    org_id: e.org_id,
    // The key's owner as the database knows it, not as the edge says.
    user_id: ownerUserId,
    model: e.model,
    supplier_id: e.supplier_id,
    region: e.region,
    endpoint: e.endpoint,
    status: e.status,
    input_tokens: e.input_tokens,
    output_tokens: e.output_tokens,
    cached_input_tokens: e.cached_input_tokens ?? 0,
    cache_write_tokens: e.cache_write_tokens ?? 0,
    reasoning_tokens: e.reasoning_tokens ?? 0,
    estimated: e.estimated,
    audio_millis: audioMillis,
    cost_micros,
    unpriced,
    latency_ms: e.latency_ms,
    started_at: e.started_at,
    lease_ids: e.lease_ids ?? [],
  };
}

// Per Database: tests and the bench open many in one process, each with its own partitions.
const ensuredMonths = new WeakMap<Queryable, Set<string>>();

/** Makes the monthly partitions this batch needs, each once per process, before its transaction. */
async function ensurePartitions(db: Database, rows: readonly PricedUsageRow[], now: Date): Promise<void> {
  let ensured = ensuredMonths.get(db);
  if (!ensured) ensuredMonths.set(db, (ensured = new Set()));
  const earliest = monthStart(now, -PARTITION_MONTHS_BACK);
  const latest = monthStart(now, PARTITION_MONTHS_AHEAD);
  const months = new Set(rows.map((r) => monthStart(new Date(r.started_at), 0)));
  for (const month of [...months].sort()) {
    if (ensured.has(month) || month < earliest || month > latest) continue;
    await ensureUsagePartition(db, month);
    ensured.add(month);
  }
}

/** YYYY-MM-01 of the UTC month `offset` months from the one holding `at`. */
function monthStart(at: Date, offset: number): string {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + offset, 1)).toISOString().slice(0, 10);
}

const isError = (status: number) => status < 200 || status > 299;

/** One increment per rollup group (UTC day, org, key, user, model, supplier, region). */
export function dailyIncrements(rows: readonly IngestedRow[]): DailyIncrement[] {
  const groups = new Map<string, DailyIncrement>();
  for (const r of rows) {
    const key = JSON.stringify([r.day, r.org_id, r.key_id, r.user_id, r.model, r.supplier_id, r.region]);
    let g = groups.get(key);
    if (!g) {
      g = {
        day: r.day, org_id: r.org_id, key_id: r.key_id, user_id: r.user_id, model: r.model, supplier_id: r.supplier_id, region: r.region,
        requests: 0, errors: 0, input_tokens: 0, output_tokens: 0, cached_input_tokens: 0, cache_write_tokens: 0,
        reasoning_tokens: 0, audio_millis: 0, cost_micros: 0, estimated_requests: 0, unpriced_requests: 0,
      };
      groups.set(key, g);
    }
    g.requests += 1;
    g.errors += isError(r.status) ? 1 : 0;
    g.input_tokens += r.input_tokens;
    g.output_tokens += r.output_tokens;
    g.cached_input_tokens += r.cached_input_tokens;
    g.cache_write_tokens += r.cache_write_tokens;
    g.reasoning_tokens += r.reasoning_tokens;
    g.audio_millis += r.audio_millis;
    g.cost_micros += r.cost_micros;
    g.estimated_requests += r.estimated ? 1 : 0;
    g.unpriced_requests += r.unpriced ? 1 : 0;
  }
  return [...groups.values()];
}

/** Per-org sums of the new rows' costs, in org id order (the ledger locks wallets in that order too). */
function orgDebits(rows: readonly IngestedRow[]): { org_id: string; micros: number }[] {
  const sums = new Map<string, number>();
  for (const r of rows) sums.set(r.org_id, (sums.get(r.org_id) ?? 0) + r.cost_micros);
  return [...sums].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([org_id, micros]) => ({ org_id, micros }));
}

/**
 * The ledger reference of one ingest: a digest of the rows it added, each by its event id and its
 * start. Each row is added by exactly one committed ingest, so two ingests never share a
 * reference, and the ledger's own idempotency by (kind, ref, org) could only ever skip a true
 * repeat. The start is part of it because rows are unique by (id, started_at) (the table is
 * partitioned by start): an id sent again with another start is a second row, in the rollups and
 * the leases, and must be a second debit too, or the wallet would disagree with the usage.
 */
function ledgerRef(rows: readonly IngestedRow[]): string {
  const hash = createHash('sha256');
  for (const key of rows.map((r) => `${r.id}@${r.started_at}`).sort()) hash.update(`${key}\n`);
  return `usage-events:${hash.digest('hex')}`;
}

/** One line per model with successful requests that found no price: ids and counts, nothing else. */
function logUnpriced(log: Logger, nodeId: string, rows: readonly IngestedRow[]): void {
  const byModel = new Map<string, IngestedRow[]>();
  for (const r of rows) {
    if (!r.unpriced) continue;
    const list = byModel.get(r.model);
    if (list) list.push(r);
    else byModel.set(r.model, [r]);
  }
  for (const [model, unpriced] of byModel) {
    log('warn', 'usage stored unpriced: no price version in force', {
      model,
      node_id: nodeId,
      events: unpriced.length,
      first_event_id: unpriced[0]!.id,
      first_started_at: unpriced[0]!.started_at,
    });
  }
}
