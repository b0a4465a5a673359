// The durable usage outbox's storage and delivery: events in a SQLite table of the UsageOutboxObject
// Durable Object (local disk), delivered oldest first in batches to the control plane and deleted
// only once it answered 2xx. Ingestion is idempotent by event id, so an event sent again after a
// crash between the POST and the delete is counted once; each event is stored as the JSON text it
// was handed over as and replayed byte for byte (same id, same started_at).

import { MAX_USAGE_BATCH, type UsageEvent } from '../shared/usage.ts';
import type { OutboxState } from './usage-outbox.ts';

/** Delivery starts this long after the first stored event, so events that come together share a POST. */
export const BATCH_WINDOW_MS = 100;
/** POSTs per alarm run; the next run continues at once, so one run never holds the object long. */
const BATCHES_PER_ROUND = 20;
const FIRST_RETRY_MS = 1000;
export const MAX_RETRY_MS = 60_000;

export type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, string | number>) => void;

export interface AppendAnswer extends OutboxState {
  /** Newly stored (an id already held is not stored twice). */
  stored: number;
  /** Ids refused because the outbox is at its bound: these events are not kept. */
  refused: string[];
  /** The journal files named in the append that the outbox process deleted (usage-outbox-do.ts). */
  removed?: string[];
}

export interface DeliveryReport extends OutboxState {
  outcome: 'drained' | 'more' | 'retrying';
  delivered: number;
  /** Dropped with a log line: rejected by the control plane, or refused alone as malformed. */
  dropped: number;
}

/**
 * What an answer of the control plane means for a batch. 400/409/413/422 are about the batch
 * itself: the same bytes would be refused again, so the batch is split until the one event that
 * causes it is alone, and dropped with a log line. Anything else (401/403 while a node is
 * disabled, 404 from an older control plane, 408, 429, 5xx) is the control plane's state: retried.
 */
export function answerKind(status: number): 'taken' | 'refused' | 'retry' {
  if (status >= 200 && status <= 299) return 'taken';
  if (status === 400 || status === 409 || status === 413 || status === 422) return 'refused';
  return 'retry';
}

/** Bounded exponential backoff with ±20 % jitter (many nodes must not retry in step): 1 s, 2 s, 4 s … 60 s. */
export function retryDelayMs(failures: number, random: () => number): number {
  const base = FIRST_RETRY_MS * 2 ** Math.min(Math.max(failures - 1, 0), 16);
  return Math.round(Math.min(MAX_RETRY_MS, base * (0.8 + 0.4 * random())));
}

/**
 * `full` is the admission signal: it comes on 1 % below the bound, so the requests already
 * admitted when it does still find room for their events; appends are refused only at the bound.
 */
export function outboxState(pending: number, maxEvents: number): OutboxState {
  const reserve = Math.max(1, Math.ceil(maxEvents / 100));
  return { pending, max: maxEvents, full: pending >= maxEvents - reserve };
}

export interface OutboxStoreOptions {
  storage: DurableObjectStorage;
  maxEvents: number;
  /** POSTs one batch body (`{"events":[…]}`) to the control plane; throws when it cannot reach it. */
  post: (body: string) => Promise<Response>;
  nowMs: () => number;
  random?: () => number;
  log: Log;
}

export interface OutboxStore {
  append(events: readonly UsageEvent[]): Promise<AppendAnswer>;
  status(): Promise<OutboxState>;
  /** One delivery round (what the alarm runs); it schedules the next alarm itself. */
  deliver(): Promise<DeliveryReport>;
  /** The runtime fired the alarm: it is no longer scheduled. */
  alarmFired(): void;
}

type Row = { seq: number; id: string; event: string };
type Answer = { kind: 'taken'; rejected: string[] } | { kind: 'refused' | 'retry'; reason: string };

export function createOutboxStore(options: OutboxStoreOptions): OutboxStore {
  const { storage, log } = options;
  const sql = storage.sql;
  const random = options.random ?? Math.random;
  // AUTOINCREMENT: a seq is never reused, so "every row up to the last one sent" is exactly the batch.
  sql.exec('CREATE TABLE IF NOT EXISTS usage_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, event TEXT NOT NULL)');
  let pending = sql.exec<{ n: number }>('SELECT count(*) AS n FROM usage_outbox').one().n;
  let failures = 0;
  let batchLimit = MAX_USAGE_BATCH;
  // The alarm as this object last set it; undefined until read once from storage.
  let alarmAt: number | null | undefined;
  let rounds: Promise<unknown> = Promise.resolve();

  const state = () => outboxState(pending, options.maxEvents);

  async function ensureAlarm(): Promise<void> {
    alarmAt ??= await storage.getAlarm();
    if (alarmAt !== null || pending === 0) return;
    alarmAt = options.nowMs() + BATCH_WINDOW_MS;
    await storage.setAlarm(alarmAt);
  }

  async function scheduleAt(atMs: number): Promise<void> {
    alarmAt = atMs;
    await storage.setAlarm(atMs);
  }

  async function send(rows: Row[]): Promise<Answer> {
    let response: Response;
    try {
      response = await options.post(`{"events":[${rows.map((r) => r.event).join(',')}]}`);
    } catch (err) {
      return { kind: 'retry', reason: err instanceof Error ? err.message : String(err) };
    }
    const kind = answerKind(response.status);
    if (kind !== 'taken') {
      await response.body?.cancel();
      return { kind, reason: `answered ${response.status}` };
    }
    try {
      const body = (await response.json()) as { rejected?: unknown };
      return { kind, rejected: Array.isArray(body.rejected) ? body.rejected.filter((id): id is string => typeof id === 'string') : [] };
    } catch {
      return { kind, rejected: [] };
    }
  }

  function remove(condition: 'seq <= ?' | 'seq = ?', seq: number): void {
    pending -= sql.exec(`DELETE FROM usage_outbox WHERE ${condition} RETURNING seq`, seq).toArray().length;
  }

  function logDropped(msg: string, row: Row, fields: Record<string, string | number> = {}): void {
    const event = JSON.parse(row.event) as UsageEvent;
    // Metadata only: an event holds counts, never text, and only these fields are logged.
    log('error', msg, { id: event.id, request_id: event.request_id, key_id: event.key_id, org_id: event.org_id, ...fields });
  }

  async function round(): Promise<DeliveryReport> {
    let delivered = 0;
    let dropped = 0;
    const report = (outcome: DeliveryReport['outcome']): DeliveryReport => ({ outcome, delivered, dropped, ...state() });
    for (let i = 0; i < BATCHES_PER_ROUND; i++) {
      const rows = sql.exec<Row>('SELECT seq, id, event FROM usage_outbox ORDER BY seq LIMIT ?', batchLimit).toArray();
      if (rows.length === 0) {
        failures = 0;
        return report('drained');
      }
      const answer = await send(rows);
      if (answer.kind === 'taken') {
        const rejected = new Set(answer.rejected);
        for (const row of rows) if (rejected.has(row.id)) logDropped('usage event rejected by the control plane: dropped', row);
        remove('seq <= ?', rows.at(-1)!.seq);
        delivered += rows.length - rejected.size;
        dropped += rejected.size;
        failures = 0;
        batchLimit = MAX_USAGE_BATCH;
      } else if (answer.kind === 'refused' && rows.length > 1) {
        batchLimit = Math.ceil(rows.length / 2);
      } else if (answer.kind === 'refused') {
        logDropped('usage event refused by the control plane on its own: dropped', rows[0]!, { reason: answer.reason });
        remove('seq = ?', rows[0]!.seq);
        dropped++;
        batchLimit = MAX_USAGE_BATCH;
      } else {
        failures++;
        const waitMs = retryDelayMs(failures, random);
        await scheduleAt(options.nowMs() + waitMs);
        log('warn', 'usage delivery failed: events kept, retrying', { pending, failures, retry_in_ms: waitMs, reason: answer.reason });
        return report('retrying');
      }
    }
    await scheduleAt(options.nowMs());
    return report('more');
  }

  async function safeRound(): Promise<DeliveryReport> {
    try {
      const report = await round();
      // Events appended while the last batch was out (after the alarm fired) still need one.
      if (report.outcome === 'drained') await ensureAlarm();
      return report;
    } catch (err) {
      // A storage failure: keep everything and come back later, like an unreachable control plane.
      failures++;
      await scheduleAt(options.nowMs() + retryDelayMs(failures, random)).catch(() => {});
      log('error', 'usage delivery round failed', { pending, failures, error: err instanceof Error ? err.message : String(err) });
      return { outcome: 'retrying', delivered: 0, dropped: 0, ...state() };
    }
  }

  return {
    async append(events) {
      const refused: string[] = [];
      let stored = 0;
      // Synchronous statements: they commit together, and the answer leaves this object only
      // once they are on disk (the Durable Object output gate).
      for (const event of events) {
        if (pending >= options.maxEvents) {
          refused.push(event.id);
          continue;
        }
        const inserted = sql
          .exec('INSERT INTO usage_outbox (id, event) VALUES (?, ?) ON CONFLICT (id) DO NOTHING RETURNING seq', event.id, JSON.stringify(event))
          .toArray().length;
        pending += inserted;
        stored += inserted;
      }
      await ensureAlarm();
      return { stored, refused, ...state() };
    },
    async status() {
      await ensureAlarm();
      return state();
    },
    deliver() {
      // One round at a time: an alarm and a flush must not send (and delete) the same rows twice.
      const next = rounds.then(safeRound);
      rounds = next;
      return next;
    },
    alarmFired() {
      alarmAt = null;
    },
  };
}
