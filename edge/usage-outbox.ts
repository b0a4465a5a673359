// The usage outbox as the request path sees it: each finished request hands its event over, and
// the outbox gets it to the control plane exactly once (ingestion is idempotent by event id).
//
// Production (`durableUsageOutbox`): each event is appended to the node's UsageOutboxObject
// Durable Object as it is recorded (within MIN_APPEND_INTERVAL_MS under load), which keeps it on
// local disk and delivers it from its alarm (usage-outbox-do.ts, usage-outbox-store.ts). With a
// journal (usage-journal.ts), each event is also written to a local file at once, and the request
// counts it as stored when either is done: usually the file, a fraction of the commit's time.
// `createUsageOutbox` keeps events in isolate memory only: for tests that inject an outbox; it
// does not survive a restart.

import type { UsageEvent } from '../shared/usage.ts';
import { MAX_USAGE_BATCH } from '../shared/usage.ts';
import type { UsageJournal } from './usage-journal.ts';
import type { AppendAnswer, Log } from './usage-outbox-store.ts';

/** The one UsageOutboxObject of a node: a fixed name, not the node id, so a renamed node still sends what it held. */
export const USAGE_OUTBOX_NAME = 'usage-outbox';

export interface OutboxState {
  /** Events held and not yet taken by the control plane. */
  pending: number;
  max: number;
  /** The outbox is at its bound: admission should refuse new requests (503) until it drains. */
  full: boolean;
}

/** What became of a recorded event: on disk, refused at the bound, or still only in memory. */
export type RecordOutcome = 'stored' | 'refused' | 'held';

export interface UsageOutbox {
  /**
   * Hands the event over at once. The request is kept alive (waitUntil) until the event is on
   * disk; the promise says when, so a caller may hold the end of its response until then.
   */
  record(event: UsageEvent, waitUntil: (p: Promise<unknown>) => void): Promise<RecordOutcome>;
  /** Deliver everything queued now (tests, shutdown). */
  flush(): Promise<void>;
  pending(): number;
  /** Cheap: the last answer of the store, re-read (at most once a second) only while it says full. */
  state(): Promise<OutboxState>;
  /**
   * Asks the store now (readiness): whether it answers. When it does and events are held in
   * memory with no append running (the store was down), their append starts in this waitUntil:
   * a node that is not ready gets no traffic, so no request would start it.
   */
  reachable(waitUntil: (p: Promise<unknown>) => void): Promise<boolean>;
  /** True until a request has started the replay of the journal (app.ts asks on every request). */
  readonly resumeDue: boolean;
  /**
   * The first request after a start, a health check too, calls it: it appends what an earlier
   * process left in the journal, in that request's waitUntil.
   */
  resume(waitUntil: (p: Promise<unknown>) => void): void;
}

/** The parts of a DurableObjectNamespace the outbox uses (tests wrap it to count calls). */
export interface OutboxNamespace {
  idFromName(name: string): DurableObjectId;
  get(id: DurableObjectId): { fetch(input: string, init?: RequestInit): Promise<Response> };
}

export interface DurableUsageOutboxOptions {
  namespace: OutboxNamespace;
  /** The object's name; one per node. Tests use their own. */
  name?: string;
  nowMs: () => number;
  log: Log;
  sleep?: (ms: number) => Promise<void>;
  /**
   * Appends start at most this often (each is one disk sync that holds the isolate's thread):
   * an idle outbox appends at once, a busy one gathers what arrives in between into one append.
   */
  minAppendIntervalMs?: number;
  /** Local files an event is written to while its append runs; deleted once the outbox holds it. */
  journal?: UsageJournal;
}

/**
 * Measured on a 2-vCPU VM (plain workerd, local disk): with 0, every event is its own disk sync,
 * ~1 ms of the thread each, which capped a node at ~200 sequential or ~1,800 concurrent requests
 * a second; with 5 ms an append carries what arrived meanwhile, for ~60–100 µs of CPU a request
 * at full load. The price: under load an event waits up to 5 ms in memory after its request ended.
 */
export const MIN_APPEND_INTERVAL_MS = 5;
/** Events per append call; a larger backlog (the store was unreachable) goes in several calls. */
const EVENTS_PER_APPEND = 500;
/** Events held in memory while the store does not answer; beyond it an event is refused, loudly. */
const MAX_HELD = 10_000;
/** A request keeps appending for others at most this long before the next request takes over. */
const HANDOVER_MS = 1000;
const APPEND_ATTEMPTS = 5;
const FULL_RECHECK_MS = 1000;
/** A request waits this long at most for its event to be on disk, then stops holding on (it stays held in memory). */
const DURABLE_WAIT_MS = 30_000;
const KEEP_ALIVE_MS = 1000;
/**
 * An event is also journaled only while at most this many requests wait for theirs: a journal
 * write (a PUT, later a DELETE) costs ~0.1–0.2 ms of the thread serving requests, which a node
 * with time to spare gives for a ~1.5 ms shorter end of each answer (p50 at 200 req/s), but which
 * cost a saturated node 15–25 % of its throughput when every event was journaled (bench:edge-cpu
 * A/B). Past this many waiting, the node is busy, its answers queue for ms anyway, and the
 * event takes the group-committed append alone.
 */
const JOURNAL_MAX_WAITING = 4;
/**
 * Appends of journaled events start at most this often: their requests do not wait for them, so
 * a few events share one call to the outbox process (at 200 req/s about four).
 */
const JOURNALED_APPEND_INTERVAL_MS = 20;
/**
 * An append out this long counts as failing (the outbox process is frozen or overloaded), as one
 * that failed does: while the outbox fails, every event is journaled whatever the load, and the
 * events whose requests wait for the append alone are journaled then, so no answer waits for an
 * outbox that does not answer (up to DURABLE_WAIT_MS) while the node's own disk works.
 */
const STALLED_APPEND_MS = 1000;

const metadata = (e: UsageEvent) => ({ id: e.id, request_id: e.request_id, key_id: e.key_id, org_id: e.org_id });

/** One journal file: its path once written, and how many of its events the outbox has yet to take. */
type JournalFile = { path: string | null; remaining: number };
type Entry = {
  event: UsageEvent;
  /** Settles the request's wait; the first call counts (the journal's write or the outbox's answer). */
  settle: (outcome: RecordOutcome) => void;
  /** The outbox has answered for it (stored or refused): its journal file no longer needs it. */
  taken: boolean;
  /** Its request may end once its file is written: its append need not be immediate. */
  journaled: boolean;
  file: JournalFile | null;
};

/**
 * Group commit across requests: the request that finds no append running starts the "pump" in
 * its own waitUntil, which appends every event held (its own first) and loops while more arrive;
 * events of requests finishing meanwhile join its next append. A request never waits on another
 * request's promise alone — workerd cancels that as a hang — so each waits for its own event
 * with a timer of its own pending (then a resolution from the pump's request wakes it in its own
 * context).
 *
 * The journal's writer works the same way (one write out at a time, events recorded meanwhile in
 * the next file), beside the pump. A written file whose events all go in one append is named in
 * it and deleted by the outbox process after its commit; any other is deleted here by whichever
 * finishes last for it: the writer (the outbox had taken every event before the write was done)
 * or the pump. Files an earlier process left are appended again from the first request after a
 * start (resume).
 */
export function durableUsageOutbox(options: DurableUsageOutboxOptions): UsageOutbox {
  const { log, nowMs } = options;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const id = options.namespace.idFromName(options.name ?? USAGE_OUTBOX_NAME);
  const intervalMs = options.minAppendIntervalMs ?? MIN_APPEND_INTERVAL_MS;
  const held: Entry[] = [];
  let generation = 0;
  let pump: { promise: Promise<void>; startedMs: number } | null = null;
  /** The current pump sleeps out JOURNALED_APPEND_INTERVAL_MS: an event that is not journaled must not wait for it. */
  let pumpDeferring = false;
  let lastAppendMs = -Infinity;
  let known: { state: OutboxState; atMs: number } = { state: { pending: 0, max: 0, full: false }, atMs: -Infinity };
  const { journal } = options;
  const unwritten: Entry[] = [];
  let writerGeneration = 0;
  let writer: { promise: Promise<void>; startedMs: number } | null = null;
  let replayDue = journal !== undefined;
  /** Requests waiting for their event to be stored (or for DURABLE_WAIT_MS to pass). */
  let waiting = 0;
  /** The appends out now (one per pump; a new pump may start beside a stalled one): their events, and since when. */
  const appending = new Set<{ batch: Entry[]; sinceMs: number }>();
  /** The last append failed (or stalled) and none has succeeded since: journal every event. */
  let failing = false;
  /** When journalStranded last ran: the waiting requests' ticks try it at most once a second among them. */
  let strandedAtMs = -Infinity;

  async function call<T>(path: string, init?: RequestInit): Promise<T> {
    const response = await options.namespace.get(id).fetch(`https://usage-outbox${path}`, init);
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`usage outbox ${path} answered ${response.status}`);
    }
    return (await response.json()) as T;
  }

  function remember({ pending, max, full }: OutboxState): void {
    known = { state: { pending, max, full }, atMs: nowMs() };
  }

  /** Re-reads the store's state; false (logged) when it does not answer. */
  async function refreshStatus(): Promise<boolean> {
    try {
      remember(await call<OutboxState>('/status'));
      return true;
    } catch (err) {
      log('error', 'usage outbox status unavailable', { error: err instanceof Error ? err.message : String(err) });
      return false;
    }
  }

  async function append(batch: Entry[]): Promise<void> {
    lastAppendMs = nowMs();
    const events = batch.map((e) => e.event);
    // Written journal files whose every event still to be taken is in this batch: the outbox
    // process deletes them after its commit, so this thread does not.
    const inBatch = new Map<JournalFile, number>();
    for (const { file } of batch) if (file?.path) inBatch.set(file, (inBatch.get(file) ?? 0) + 1);
    const handed = [...inBatch].filter(([file, n]) => n === file.remaining).map(([file]) => file.path!);
    const body = JSON.stringify(handed.length > 0 ? { events, journal: handed } : events);
    const out = { batch, sinceMs: nowMs() };
    appending.add(out);
    let answer: AppendAnswer;
    try {
      answer = await call<AppendAnswer>('/append', { method: 'POST', body });
    } finally {
      appending.delete(out);
    }
    failing = false;
    remember(answer);
    const refused = new Set(answer.refused);
    const removed = new Set(answer.removed);
    const done: string[] = [];
    for (const entry of batch) {
      if (!refused.has(entry.event.id)) entry.settle('stored');
      else {
        log('error', 'usage outbox full: event refused, it cannot be billed', metadata(entry.event));
        entry.settle('refused');
      }
      entry.taken = true;
      const { file } = entry;
      if (file && --file.remaining === 0 && file.path && !removed.has(file.path)) done.push(file.path);
    }
    // In this request's waitUntil, like the append: a deletion started from the writer's context
    // after it ended would be dropped by the runtime.
    await Promise.all(done.map(removeFile));
  }

  async function removeFile(path: string): Promise<void> {
    try {
      await journal!.remove(path);
    } catch (err) {
      // Left on disk, it is appended again at the next start: a duplicate the outbox and ingestion skip.
      log('warn', 'usage journal file not deleted', { file: path, error: err instanceof Error ? err.message : String(err) });
    }
  }

  async function writeJournal(own: number): Promise<void> {
    while (own === writerGeneration && unwritten.length > 0) {
      // What the outbox already took (and answered for) needs no file.
      const batch = unwritten.splice(0, EVENTS_PER_APPEND).filter((entry) => !entry.taken);
      if (batch.length === 0) continue;
      const file: JournalFile = { path: null, remaining: batch.length };
      for (const entry of batch) entry.file = file;
      try {
        file.path = await journal!.write(batch.map((e) => e.event));
      } catch (err) {
        // These answers wait for the outbox instead, as without a journal (the pump's next append).
        for (const entry of batch) {
          entry.file = null;
          entry.journaled = false;
        }
        log('error', 'usage journal write failed: answers wait for the outbox', { events: batch.length, error: err instanceof Error ? err.message : String(err) });
        continue;
      }
      for (const entry of batch) entry.settle('stored');
      if (file.remaining === 0) await removeFile(file.path);
    }
    if (own === writerGeneration) writer = null;
  }

  /**
   * The outbox fails: the events whose requests wait for its append alone (past the busy
   * threshold, or their journal write failed) go to the journal now. Returns the writer to wait
   * for in the caller's context, if this call started it.
   */
  function journalStranded(): Promise<void> | null {
    if (!journal) return null;
    failing = true;
    strandedAtMs = nowMs();
    let found = false;
    for (const entries of [...[...appending].map((a) => a.batch), held]) {
      for (const entry of entries) {
        if (entry.journaled || entry.taken) continue;
        entry.journaled = true;
        unwritten.push(entry);
        found = true;
      }
    }
    return found && handOver(writer) ? startWriter() : null;
  }

  function startWriter(): Promise<void> {
    const own = ++writerGeneration;
    const promise = writeJournal(own);
    writer = { promise, startedMs: nowMs() };
    return promise;
  }

  /** Appends what an earlier process left in the journal; the pump deletes each file once the outbox holds it. */
  async function replayJournal(): Promise<void> {
    let leftovers;
    try {
      leftovers = await journal!.leftovers();
    } catch (err) {
      replayDue = true; // the next request tries again
      log('error', 'usage journal could not be listed: the next request tries again', { error: err instanceof Error ? err.message : String(err) });
      return;
    }
    let files = 0;
    let events = 0;
    for (const { path, events: found } of leftovers) {
      if (!found) {
        // Its write never finished, so no answer waited for it: it was never billed as delivered.
        log('warn', 'usage journal file unreadable: deleted', { file: path });
        await removeFile(path);
        continue;
      }
      const file: JournalFile = { path, remaining: found.length };
      if (file.remaining === 0) await removeFile(path);
      for (const event of found) held.push({ event, settle: () => {}, taken: false, journaled: true, file });
      files++;
      events += found.length;
    }
    if (files > 0) log('info', 'usage journal: appending what an earlier process left', { files, events });
    if (events > 0 && !pump) await startPump();
  }

  async function drain(own: number): Promise<void> {
    let failures = 0;
    for (;;) {
      // Events recorded in this same turn, or until the interval since the last append passed, join.
      // While every event held is in the journal (no request waits for the append), the interval
      // is JOURNALED_APPEND_INTERVAL_MS: fewer, larger appends; record() starts a new pump when
      // an event that is not journaled arrives meanwhile.
      const deferring = held.every((e) => e.journaled);
      const waitMs = lastAppendMs + (deferring ? JOURNALED_APPEND_INTERVAL_MS : intervalMs) - nowMs();
      if (own === generation) pumpDeferring = deferring && waitMs > 0;
      await (waitMs > 0 ? sleep(waitMs) : Promise.resolve());
      if (own === generation) pumpDeferring = false;
      // Checked and cleared in one step: a record() never sees a pump that will not look again.
      if (own !== generation || held.length === 0) {
        if (own === generation) pump = null;
        return;
      }
      const batch = held.splice(0, EVENTS_PER_APPEND);
      try {
        await append(batch);
        failures = 0;
        // Nothing left: done now, not after another interval (checked and cleared in one step).
        if (own === generation && held.length === 0) {
          pump = null;
          return;
        }
      } catch (err) {
        held.unshift(...batch);
        failures++;
        log('error', 'usage outbox did not take events: held in memory', { held: held.length, failures, error: err instanceof Error ? err.message : String(err) });
        await journalStranded();
        if (failures >= APPEND_ATTEMPTS) {
          if (own === generation) pump = null; // the next recorded event tries again
          return;
        }
        await sleep(100 * 2 ** failures);
      }
    }
  }

  function startPump(): Promise<void> {
    const own = ++generation;
    const promise = drain(own);
    pump = { promise, startedMs: nowMs() };
    return promise;
  }

  /** No loop runs (the pump or the writer), or it has run for others long enough: this request starts the next. */
  function handOver(runner: { startedMs: number } | null): boolean {
    return !runner || nowMs() - runner.startedMs >= HANDOVER_MS;
  }

  /**
   * Waits for this request's own event with a timer of its own pending, so workerd sees it is not
   * hung; at each tick, an append that has stalled sends the events waiting for it to the journal.
   */
  async function outcomeOf(done: Promise<RecordOutcome>, waitUntil: (p: Promise<unknown>) => void): Promise<RecordOutcome> {
    const startedMs = nowMs();
    try {
      for (;;) {
        let timer: ReturnType<typeof setTimeout> | null = null;
        const tick = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), KEEP_ALIVE_MS)));
        const outcome = await Promise.race([done, tick]);
        if (timer !== null) clearTimeout(timer);
        if (outcome !== null) return outcome;
        if (nowMs() - startedMs >= DURABLE_WAIT_MS) return 'held';
        if (nowMs() - strandedAtMs >= KEEP_ALIVE_MS && [...appending].some((a) => nowMs() - a.sinceMs >= STALLED_APPEND_MS)) {
          const writing = journalStranded();
          if (writing) waitUntil(writing);
        }
      }
    } finally {
      waiting--;
    }
  }

  return {
    record(event, waitUntil) {
      if (held.length >= MAX_HELD) {
        log('error', 'usage outbox unreachable and its memory bound reached: event refused, it cannot be billed', metadata(event));
        return Promise.resolve('refused');
      }
      let settle: (outcome: RecordOutcome) => void = () => {};
      const done = new Promise<RecordOutcome>((resolve) => (settle = resolve));
      waiting++; // until outcomeOf returns
      const journaled = journal !== undefined && (waiting <= JOURNAL_MAX_WAITING || failing);
      const entry: Entry = { event, settle, taken: false, journaled, file: null };
      held.push(entry);
      if (journaled) {
        unwritten.push(entry);
        if (handOver(writer)) waitUntil(startWriter());
      }
      if (handOver(pump) || (!journaled && pumpDeferring)) waitUntil(startPump());
      const outcome = outcomeOf(done, waitUntil);
      waitUntil(outcome);
      return outcome;
    },
    async flush() {
      if (writer) await writer.promise;
      if (pump) await pump.promise;
      if (held.length > 0) await startPump();
      if (held.length > 0) throw new Error(`usage outbox unreachable: ${held.length} events held in memory`);
      remember(await call<OutboxState>('/deliver', { method: 'POST' }));
    },
    pending: () => known.state.pending + held.length,
    async state() {
      if (known.state.full && nowMs() - known.atMs >= FULL_RECHECK_MS) await refreshStatus();
      const { pending, max, full } = known.state;
      return { pending: pending + held.length, max, full: full || held.length >= MAX_HELD };
    },
    async reachable(waitUntil) {
      if (!(await refreshStatus())) return false;
      if (held.length > 0 && !pump) waitUntil(startPump());
      return true;
    },
    get resumeDue() {
      return replayDue;
    },
    resume(waitUntil) {
      if (!replayDue) return;
      replayDue = false;
      waitUntil(replayJournal());
    },
  };
}

export interface UsageOutboxOptions {
  /** POSTs one batch; throws when it was not accepted. */
  deliver: (events: UsageEvent[]) => Promise<void>;
  batchWindowMs: number;
  maxQueued: number;
  /** Injected so tests need not wait out the retry backoff. */
  sleep?: (ms: number) => Promise<void>;
  log?: (msg: string, fields?: Record<string, string | number>) => void;
}

const RETRIES_PER_FLUSH = 4;

/**
 * In isolate memory, for tests that inject an outbox: the first event of a batch schedules a
 * delivery a few hundred milliseconds later (inside waitUntil), later events join it; failed
 * deliveries are kept and retried; at the bound the oldest event is dropped.
 */
export function createUsageOutbox(options: UsageOutboxOptions): UsageOutbox {
  const queue: UsageEvent[] = [];
  let scheduled = false;
  let delivering: Promise<void> | null = null;
  const log = options.log ?? (() => {});
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  async function deliverAll(): Promise<void> {
    let failures = 0;
    while (queue.length > 0) {
      const batch = queue.slice(0, MAX_USAGE_BATCH);
      try {
        await options.deliver(batch);
      } catch (err) {
        failures++;
        log('usage delivery failed', { queued: queue.length, failures, error: err instanceof Error ? err.message : String(err) });
        // A few quick retries inside this waitUntil; after that the next recorded event tries again.
        if (failures > RETRIES_PER_FLUSH) return;
        await sleep(250 * 2 ** failures);
        continue;
      }
      queue.splice(0, batch.length);
    }
  }

  function flush(): Promise<void> {
    delivering ??= deliverAll().finally(() => {
      delivering = null;
    });
    return delivering;
  }

  return {
    record(event, waitUntil) {
      if (queue.length >= options.maxQueued) {
        queue.shift();
        log('usage outbox full: dropped the oldest event', { max: options.maxQueued });
      }
      queue.push(event);
      if (scheduled || delivering) return Promise.resolve('held');
      scheduled = true;
      waitUntil(
        new Promise((resolve) => setTimeout(resolve, options.batchWindowMs)).then(() => {
          scheduled = false;
          return flush();
        }),
      );
      return Promise.resolve('held');
    },
    flush,
    pending: () => queue.length,
    state: async () => ({ pending: queue.length, max: options.maxQueued, full: queue.length >= options.maxQueued }),
    reachable: async () => true,
    resumeDue: false,
    resume: () => {},
  };
}
