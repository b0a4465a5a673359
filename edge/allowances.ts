// Admission from allowance leases (ARCHITECTURE.md §4, shared/allowance.ts), the edge's half.
//
// Per isolate, each scope (org wallet, member budget, key budget + RPM/TPM) has at most one lease
// it admits under. A request reserves its worst case (money, one request, tokens) from the leases
// of all its scopes at once, synchronously, with no network call, and settles to its real cost
// when it ends. When a lease cannot take a request, the request waits for one call to the control
// plane that carries, for every scope short of room, what its waiting requests need; calls are
// coalesced, so a burst of requests costs one round trip. A lease that can no longer admit (spent,
// past its admit window, its budget period or rate window over) is "draining": it reports its
// lowered caps, and is closed once its last request settled, which gives back what it did not use.
//
// Grace: when the control plane cannot be reached, leases already held keep admitting until
// their admit window ends (at most LEASE_ADMIT_MS after they were granted); after that, requests
// of that scope get 503 allowance_unavailable. There is no credit beyond what was granted, so a
// control-plane outage never lets a budget overspend.

import type { AcquireAnswer, AllowanceAnswer, AllowanceScope, AllowanceSync, DenialReason, Lease } from '../shared/allowance.ts';
import { scopeKey } from '../shared/allowance.ts';
import { ApiError } from '../shared/errors.ts';
import { untilOnOwnTimers } from './own-timer-wait.ts';

/** What one request asks of every scope it belongs to. */
export interface WorstCase {
  money: number;
  tokens: number;
}

export interface Settlement {
  money: number;
  tokens: number;
}

export interface Reservation {
  readonly leaseIds: string[];
  /** The edge's clock when admitted: the request belongs to the budget period and window of this instant. */
  readonly atMs: number;
  /** x-ratelimit-* headers, when a scope has RPM/TPM. */
  readonly headers: Record<string, string>;
  /** Exactly once, with the real cost (0 for a failed request). */
  settle(actual: Settlement): void;
}

export interface Allowances {
  /** A reservation, or an ApiError (402, 429, 503). Synchronous when every lease has room. */
  admit(scopes: AllowanceScope[], worst: WorstCase, waitUntil: (p: Promise<unknown>) => void): Reservation | Promise<Reservation>;
  /** Tests and shutdown: close what can be closed now. */
  flush(): Promise<void>;
}

export interface AllowanceOptions {
  /** POST /node/v1/allowances; throws when the control plane cannot be reached. */
  sync: (body: AllowanceSync) => Promise<AllowanceAnswer>;
  nowMs: () => number;
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, string | number>) => void;
}

/** A denial is remembered this long, so a spent budget costs one control-plane call a second, not one per request. */
const DENIAL_MEMORY_MS = 1_000;
/** Leases with running requests are extended this often (the control plane holds them 30 s). */
const EXTEND_EVERY_MS = 10_000;
/** Settled draining leases are closed in one call a little later, together. */
const CLOSE_DELAY_MS = 200;
/**
 * A lease keeps room for this many requests at their worst case arriving together (a client's
 * burst, or the backlog of a few ms in which the thread was busy, e.g. with garbage collection):
 * below that it is renewed in the background. Each waiting request costs a control-plane round
 * trip in a burst's way; with room for only 8, the bench saw every pause of the edge's thread
 * grow by one (~25 ms on this machine, more across a network).
 */
const BURST_REQUESTS = 16;
/** What a lease asks for beyond the demand: twice the burst room, or twice what the last one used. */
const PREFETCH_REQUESTS = 2 * BURST_REQUESTS;
/** Scopes with nothing held are forgotten this often (one state per org, member and key seen). */
const FORGET_EVERY_MS = 60_000;
/** A lease is replaced ahead of need this long before its admit window ends, or below a quarter of its grant or its burst room. */
const RENEW_BEFORE_MS = 5_000;
const RENEW_BELOW = 0.25;
/** Rounds in a row that answer no waiting request (each grants what the first needs, or denies it: should never reach this). */
const MAX_ROUNDS = 16;
/**
 * A run whose round has not come back in this long is taken for dropped (its sync has a 3 s
 * timeout, so a live one never takes this long): the next kick starts another. Insurance: a run
 * the runtime dropped mid-call (its request's context cancelled) would otherwise never settle,
 * and every later kick would join it, which stops all admission that needs the control plane.
 */
const STALLED_MS = 15_000;

interface LeaseState {
  readonly id: string;
  readonly money: number | null;
  readonly requests: number | null;
  readonly tokens: number | null;
  readonly admitUntilMs: number;
  readonly periodEndMs: number | null;
  readonly windowEndMs: number | null;
  /** The key's limits and what no lease held at the grant: for the x-ratelimit-* headers. */
  readonly rate: Lease['rate'];
  reservedMoney: number;
  settledMoney: number;
  reservedTokens: number;
  settledTokens: number;
  admitted: number;
  inFlight: number;
  draining: boolean;
  /** The last update the control plane acknowledged, to send each change once. */
  reported: string;
  lastExtendedMs: number;
}

interface ScopeState {
  readonly scope: AllowanceScope;
  readonly key: string;
  lease: LeaseState | null;
  /**
   * The control plane's last refusal, remembered DENIAL_MEMORY_MS for requests at least as large
   * as the one refused (`need`, in the dimension the reason names): one request too large for
   * what is left must not refuse the smaller requests of every key of the org meanwhile.
   */
  denial: { error: ApiError; untilMs: number; reason: DenialReason; need: WorstCase } | null;
  /** Used by the previous lease: the next prefetch doubles what the scope actually consumed. */
  lastUsed: { money: number; requests: number; tokens: number };
  /** A replacement lease is being asked for ahead of need (the current one runs low or out of time). */
  renewing: boolean;
  renewAfterMs: number;
  /** The last request's worst case: what a replacement must at least hold to be worth having. */
  lastWorst: WorstCase;
}

type WaitUntil = (p: Promise<unknown>) => void;

/**
 * A request's share of its leases, counted; `begin` starts what belongs to the request itself
 * (the renewal it triggered, its lease-extension timer) and must run in that request's own
 * context. A waiting request is counted in the sync round another request runs, and workerd
 * drops the timers and background work of a request context once that request is done.
 */
interface Taken {
  begin(waitUntil: WaitUntil): Reservation;
}

interface Waiter {
  readonly scopes: ScopeState[];
  readonly worst: WorstCase;
  /** Set by the round that answers it; the waiting request reads it from its own timer (admit). */
  outcome: { taken: Taken } | { error: unknown } | null;
}

export function createAllowances(options: AllowanceOptions): Allowances {
  const scopes = new Map<string, ScopeState>();
  const draining = new Set<LeaseState>();
  let waiters: Waiter[] = [];
  let running: Promise<void> | null = null;
  /** The current run (a newer one supersedes a stalled one) and when it last started a round. */
  let generation = 0;
  let roundStartedMs = 0;
  let again = false;
  let lastForget = options.nowMs();
  const log = options.log ?? (() => {});

  /** Drops the state of scopes that hold nothing and wait for nothing, so memory follows the active keys. */
  function forgetIdle(now: number): void {
    if (now - lastForget < FORGET_EVERY_MS) return;
    lastForget = now;
    const waiting = new Set(waiters.flatMap((w) => w.scopes));
    for (const [key, state] of scopes) {
      // A lease past its admit window is given back (closed with the next call) before forgetting.
      if (state.lease && now >= state.lease.admitUntilMs) retire(state);
      if (state.lease || state.renewing || waiting.has(state) || (state.denial && now < state.denial.untilMs)) continue;
      scopes.delete(key);
    }
  }

  function stateOf(scope: AllowanceScope): ScopeState {
    const key = scopeKey(scope);
    let state = scopes.get(key);
    if (!state) {
      state = { scope, key, lease: null, denial: null, lastUsed: { money: 0, requests: 0, tokens: 0 }, renewing: false, renewAfterMs: 0, lastWorst: { money: 0, tokens: 0 } };
      scopes.set(key, state);
    }
    return state;
  }

  const roomMoney = (l: LeaseState) => (l.money === null ? Infinity : l.money - l.reservedMoney - l.settledMoney);
  const roomTokens = (l: LeaseState) => (l.tokens === null ? Infinity : l.tokens - l.reservedTokens - l.settledTokens);
  const roomRequests = (l: LeaseState) => (l.requests === null ? Infinity : l.requests - l.admitted);

  function retire(state: ScopeState): void {
    const lease = state.lease;
    if (!lease) return;
    lease.draining = true;
    draining.add(lease);
    state.lastUsed = { money: lease.reservedMoney + lease.settledMoney, requests: lease.admitted, tokens: lease.reservedTokens + lease.settledTokens };
    state.lease = null;
  }

  /** The scope's lease if it can admit this request now; retires one that never will again. */
  function usable(state: ScopeState, worst: WorstCase, now: number): LeaseState | null {
    const lease = state.lease;
    if (!lease) return null;
    const timeOver = now >= lease.admitUntilMs || (lease.periodEndMs !== null && now >= lease.periodEndMs) || (lease.windowEndMs !== null && now >= lease.windowEndMs);
    if (timeOver) {
      retire(state);
      return null;
    }
    if (roomMoney(lease) >= worst.money && roomTokens(lease) >= worst.tokens && roomRequests(lease) >= 1) return lease;
    return null;
  }

  function reserve(states: ScopeState[], leases: LeaseState[], worst: WorstCase, now: number): Taken {
    let renew = false;
    for (let i = 0; i < leases.length; i++) {
      const lease = leases[i]!;
      lease.reservedMoney += worst.money;
      lease.reservedTokens += worst.tokens;
      lease.admitted += 1;
      lease.inFlight += 1;
      const state = states[i]!;
      state.lastWorst = worst;
      if (!state.renewing && now >= state.renewAfterMs && runningLow(lease, worst, now)) {
        state.renewing = true;
        renew = true;
      }
    }
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let waitUntil: WaitUntil = () => {};
    const reservation: Reservation = {
      leaseIds: leases.map((l) => l.id),
      atMs: now,
      headers: rateHeaders(leases, now),
      settle(actual) {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        let closable = false;
        for (const lease of leases) {
          lease.reservedMoney -= worst.money;
          lease.settledMoney += actual.money;
          lease.reservedTokens -= worst.tokens;
          lease.settledTokens += actual.tokens;
          lease.inFlight -= 1;
          if (lease.draining && lease.inFlight === 0) closable = true;
        }
        if (closable) waitUntil(new Promise((r) => setTimeout(r, CLOSE_DELAY_MS)).then(kick));
      },
    };
    return {
      begin(own) {
        waitUntil = own;
        // Steady traffic never waits for the control plane: the next lease is asked for while this one still admits.
        if (renew) waitUntil(kick());
        // Long requests keep their leases alive (the control plane would otherwise release the hold
        // after LEASE_HOLD_MS). One timer per request, cleared at settle; the request itself is kept
        // alive until then by its usage event (record-usage.ts), so the timer always runs in it.
        timer = setTimeout(function beat() {
          if (settled) return;
          // Handed over like every run: a run no live request waits for could be dropped mid-call.
          waitUntil(kick());
          timer = setTimeout(beat, EXTEND_EVERY_MS);
        }, EXTEND_EVERY_MS);
        return reservation;
      },
    };
  }

  function tryAdmit(states: ScopeState[], worst: WorstCase, now: number): Taken | null {
    const leases: LeaseState[] = [];
    for (const state of states) {
      const lease = usable(state, worst, now);
      if (!lease) return null;
      leases.push(lease);
    }
    return reserve(states, leases, worst, now);
  }

  function runningLow(lease: LeaseState, worst: WorstCase, now: number): boolean {
    // Near a rate window's end a replacement would belong to the same window: not worth asking.
    if (lease.windowEndMs !== null && now >= lease.windowEndMs - RENEW_BEFORE_MS) return false;
    if (now >= lease.admitUntilMs - RENEW_BEFORE_MS) return true;
    if (lease.periodEndMs !== null && now >= lease.periodEndMs - RENEW_BEFORE_MS) return false;
    return low(roomMoney(lease), lease.money, worst.money) || low(roomRequests(lease), lease.requests, 1) || low(roomTokens(lease), lease.tokens, worst.tokens);
  }

  /** Room for PREFETCH_REQUESTS (two bursts) of such requests in every dimension it limits. */
  function roomy(lease: LeaseState, worst: WorstCase): boolean {
    return (
      (lease.money === null || lease.money >= worst.money * PREFETCH_REQUESTS) &&
      (lease.requests === null || lease.requests >= PREFETCH_REQUESTS) &&
      (lease.tokens === null || lease.tokens >= worst.tokens * PREFETCH_REQUESTS)
    );
  }

  /** The remembered refusal that covers a request of this worst case in this scope, if any. */
  function deniedFor(state: ScopeState, worst: WorstCase, now: number): ApiError | null {
    const denial = state.denial;
    if (!denial || now >= denial.untilMs) return null;
    const dimension = REFUSED_IN[denial.reason];
    return dimension === null || worst[dimension] >= denial.need[dimension] ? denial.error : null;
  }

  function activeDenial(states: ScopeState[], worst: WorstCase, now: number): ApiError | null {
    for (const state of states) {
      const error = deniedFor(state, worst, now);
      if (error) return error;
    }
    return null;
  }

  /** Everything the control plane should hear now: acquisitions for waiting requests, updates, extensions. */
  function buildSync(now: number): {
    body: AllowanceSync;
    asked: ScopeState[];
    renewals: ScopeState[];
    updated: { lease: LeaseState; report: string; closed: boolean }[];
    /** Leases this call extends, with when they were last extended before it. */
    extended: { lease: LeaseState; before: number }[];
  } {
    const need = new Map<ScopeState, { money: number[]; tokens: number[] }>();
    for (const waiter of waiters) {
      for (const state of waiter.scopes) {
        if (usable(state, waiter.worst, now)) continue;
        if (deniedFor(state, waiter.worst, now)) continue;
        const entry = need.get(state) ?? { money: [], tokens: [] };
        entry.money.push(waiter.worst.money);
        entry.tokens.push(waiter.worst.tokens);
        need.set(state, entry);
      }
    }
    const asked: ScopeState[] = [];
    const acquire: NonNullable<AllowanceSync['acquire']> = [];
    for (const [state, entry] of need) {
      // The current lease is too small for what waits: it drains, and its rest goes back in this call.
      retire(state);
      // Each request's worst case is bounded (admission.ts MAX_WORST_*), but a round's sum and
      // prefetch must also stay exact integers, or the control plane refuses the whole call.
      const sum = (xs: number[]) => Math.min(xs.reduce((a, b) => a + b, 0), Number.MAX_SAFE_INTEGER);
      const largestMoney = Math.max(...entry.money);
      const largestTokens = Math.max(...entry.tokens);
      acquire.push({
        scope: state.scope,
        money: { need: Math.min(...entry.money), demand: sum(entry.money), prefetch: Math.max(largestMoney * PREFETCH_REQUESTS, state.lastUsed.money * 2) },
        requests: { need: 1, demand: entry.money.length, prefetch: Math.max(PREFETCH_REQUESTS, state.lastUsed.requests * 2) },
        tokens: { need: Math.min(...entry.tokens), demand: sum(entry.tokens), prefetch: Math.max(largestTokens * PREFETCH_REQUESTS, state.lastUsed.tokens * 2) },
      });
      asked.push(state);
    }
    const renewals: ScopeState[] = [];
    for (const state of scopes.values()) {
      if (!state.renewing || need.has(state)) continue;
      const lease = state.lease;
      if (!lease) {
        state.renewing = false;
        continue;
      }
      // No demand of its own: the control plane grants it only from plenty (control-plane/allowances.ts).
      acquire.push({
        scope: state.scope,
        money: { need: state.lastWorst.money, demand: 0, prefetch: Math.max(state.lastWorst.money * PREFETCH_REQUESTS, (lease.reservedMoney + lease.settledMoney) * 2) },
        requests: { need: 1, demand: 0, prefetch: Math.max(PREFETCH_REQUESTS, lease.admitted * 2) },
        tokens: { need: state.lastWorst.tokens, demand: 0, prefetch: Math.max(state.lastWorst.tokens * PREFETCH_REQUESTS, (lease.reservedTokens + lease.settledTokens) * 2) },
      });
      renewals.push(state);
    }
    const update: NonNullable<AllowanceSync['update']> = [];
    const updated: { lease: LeaseState; report: string; closed: boolean }[] = [];
    for (const lease of draining) {
      const entry = {
        lease_id: lease.id,
        money_cap: Math.min(lease.money ?? 0, lease.reservedMoney + lease.settledMoney),
        tokens_cap: Math.min(lease.tokens ?? 0, lease.reservedTokens + lease.settledTokens),
        requests_used: lease.admitted,
        closed: lease.inFlight === 0,
      };
      const report = JSON.stringify(entry);
      if (report === lease.reported) continue;
      update.push(entry);
      updated.push({ lease, report, closed: entry.closed });
    }
    const extend: string[] = [];
    const extended: { lease: LeaseState; before: number }[] = [];
    const live = [...draining, ...[...scopes.values()].flatMap((s) => (s.lease ? [s.lease] : []))];
    for (const lease of live) {
      if (lease.inFlight > 0 && now - lease.lastExtendedMs >= EXTEND_EVERY_MS) {
        extend.push(lease.id);
        extended.push({ lease, before: lease.lastExtendedMs });
        lease.lastExtendedMs = now;
      }
    }
    return { body: { at: now, acquire, update, extend }, asked, renewals, updated, extended };
  }

  function leaseFrom(lease: Lease, now: number): LeaseState {
    return {
      id: lease.id,
      money: lease.money,
      requests: lease.requests,
      tokens: lease.tokens,
      admitUntilMs: now + lease.admit_ms,
      periodEndMs: lease.period_end,
      windowEndMs: lease.window_end,
      rate: lease.rate,
      reservedMoney: 0,
      settledMoney: 0,
      reservedTokens: 0,
      settledTokens: 0,
      admitted: 0,
      inFlight: 0,
      draining: false,
      reported: '',
      lastExtendedMs: now,
    };
  }

  function denialError(answer: Extract<AcquireAnswer, { outcome: 'denied' }>): ApiError {
    switch (answer.reason) {
      case 'wallet':
        return new ApiError('insufficient_balance', answer.message);
      case 'key_budget':
      case 'user_budget':
        return new ApiError('budget_exceeded', answer.message);
      case 'rpm':
      case 'tpm': {
        const headers: Record<string, string> = {};
        if (answer.retry_after_ms !== null) headers['retry-after'] = String(Math.max(1, Math.ceil(answer.retry_after_ms / 1000)));
        Object.assign(headers, limitHeaders(answer.rate, null, answer.retry_after_ms));
        return new ApiError('rate_limited', answer.message, { headers });
      }
      case 'inactive':
        return new ApiError('invalid_api_key', 'Invalid API key. Check the key you sent, or create a new one.');
    }
  }

  /** One call (when there is anything to say) and a pass over the waiters; true when a waiter was answered. */
  async function runOnce(): Promise<boolean> {
    const now = options.nowMs();
    const { body, asked, renewals, updated, extended } = buildSync(now);
    let answeredAt = now;
    if (asked.length > 0 || renewals.length > 0 || updated.length > 0 || (body.extend?.length ?? 0) > 0) {
      let answer: AllowanceAnswer;
      try {
        answer = await options.sync(body);
      } catch (err) {
        log('warn', 'allowance sync failed', { error: err instanceof Error ? err.message : String(err), waiting: waiters.length });
        // Not extended after all: the next call asks again at once, not a full interval later,
        // while the control plane still holds the lease (LEASE_HOLD_MS is three intervals).
        for (const { lease, before } of extended) lease.lastExtendedMs = before;
        // No lease to be had: the requests waiting for one cannot be admitted (the grace is the
        // leases already held). Nothing is remembered, so the next request tries again.
        for (const state of renewals) {
          state.renewing = false;
          state.renewAfterMs = now + DENIAL_MEMORY_MS;
        }
        const failed = new Set(asked);
        const unavailable = budgetUnconfirmed(5);
        waiters = waiters.filter((w) => {
          if (!w.scopes.some((s) => failed.has(s))) return true;
          w.outcome = { error: unavailable };
          return false;
        });
        return true;
      }
      answeredAt = options.nowMs();
      for (const { lease, report, closed } of updated) {
        lease.reported = report;
        if (closed) draining.delete(lease);
      }
      asked.forEach((state, i) => {
        const result = answer.acquired[i];
        if (!result) return;
        if (result.outcome === 'granted') {
          state.lease = leaseFrom(result.lease, answeredAt);
          // A grant smaller than a refused need leaves that refusal standing: else a large and a
          // small request in turn would each cost a control-plane call.
          if (state.denial && !grantCovers(state.lease, state.denial)) return;
          state.denial = null;
        } else {
          const asking = body.acquire![i]!;
          state.denial = {
            error: denialError(result),
            untilMs: answeredAt + DENIAL_MEMORY_MS,
            reason: result.reason,
            need: { money: asking.money.need, tokens: asking.tokens.need },
          };
        }
      });
      renewals.forEach((state, j) => {
        const result = answer.acquired[asked.length + j];
        state.renewing = false;
        state.renewAfterMs = answeredAt + DENIAL_MEMORY_MS;
        // A denial here only means "no more than what is held": the current lease goes on admitting.
        if (result?.outcome !== 'granted') return;
        const fresh = leaseFrom(result.lease, answeredAt);
        const worthIt = (fresh.money === null || fresh.money >= state.lastWorst.money) && fresh.requests !== 0 && (fresh.tokens === null || fresh.tokens >= state.lastWorst.tokens);
        if (worthIt) {
          retire(state);
          state.lease = fresh;
          // A lease with room for two bursts may be renewed as soon as it runs low (fast spending
          // outgrows a lease within a second): a call per burst of use at most. A smaller one (a
          // scope near scarcity grants slices) waits the second, as after a denial.
          if (roomy(fresh, state.lastWorst)) state.renewAfterMs = answeredAt;
        } else {
          // Too small to be of use: given back at once (closed in the next call).
          fresh.draining = true;
          draining.add(fresh);
        }
      });
    }
    // First come, first served; a request admitted here is reserved before the next one looks.
    // (Also without a call: a settled request may have made room since the waiter queued.)
    const still: Waiter[] = [];
    for (const waiter of waiters) {
      const denial = activeDenial(waiter.scopes, waiter.worst, answeredAt);
      const taken = denial ? null : tryAdmit(waiter.scopes, waiter.worst, answeredAt);
      if (taken) waiter.outcome = { taken };
      else if (denial) waiter.outcome = { error: denial };
      else still.push(waiter);
    }
    const progressed = still.length < waiters.length;
    waiters = still;
    forgetIdle(answeredAt);
    if (waiters.length > 0) again = true;
    return progressed;
  }

  /** Answers every waiting request with a 503: for what should not happen, so that no request hangs on it. */
  function failWaiters(msg: string, fields: Record<string, string | number>): void {
    log('error', msg, { ...fields, waiting: waiters.length });
    const unavailable = budgetUnconfirmed(1);
    for (const waiter of waiters) waiter.outcome = { error: unavailable };
    waiters = [];
    again = false;
  }

  /**
   * Runs a sync soon (coalesced with one already running); resolves when there is nothing left to
   * do, and never rejects. The caller hands the promise to its waitUntil: the run is that
   * request's work, and workerd drops the pending I/O of a request that nothing keeps alive.
   */
  function kick(): Promise<void> {
    again = true;
    const now = options.nowMs();
    if (running && now - roundStartedMs >= STALLED_MS) {
      log('error', 'allowance sync round stalled: starting another', { stalled_ms: now - roundStartedMs, waiting: waiters.length });
      running = null;
    }
    running ??= (async () => {
      const mine = ++generation;
      roundStartedMs = now;
      try {
        // One turn of the event loop first: the rest of a burst joins this call instead of the next.
        await new Promise((resolve) => setTimeout(resolve, 0));
        // Requests keep arriving while this runs; only rounds that answer nobody count towards the limit.
        let idle = 0;
        while (again && idle < MAX_ROUNDS && mine === generation) {
          again = false;
          roundStartedMs = options.nowMs();
          idle = (await runOnce()) ? 0 : idle + 1;
        }
        // Should not happen (each round grants what the first waiter needs or denies it).
        if (idle >= MAX_ROUNDS && waiters.length > 0) failWaiters('allowance sync did not settle its waiting requests', {});
      } catch (err) {
        // A failed sync is handled in runOnce; this is a defect, and waiting requests get a 503 for
        // it (unless a newer run already has them).
        if (mine === generation) failWaiters('allowance round failed', { error: err instanceof Error ? err.message : String(err) });
      } finally {
        // In the same turn as the last look at `again`: a kick() from here on starts a run of its
        // own, inside its caller's waitUntil. (A run started from a .finally once this one settled
        // would belong to no live request, and workerd drops such work without a word.)
        if (mine === generation) running = null;
      }
    })();
    return running;
  }

  return {
    admit(scopeList, worst, waitUntil) {
      const now = options.nowMs();
      const states = scopeList.map(stateOf);
      const denial = activeDenial(states, worst, now);
      if (denial) throw denial;
      const fast = tryAdmit(states, worst, now);
      if (fast) return fast.begin(waitUntil);
      const waiter: Waiter = { scopes: states, worst, outcome: null };
      waiters.push(waiter);
      waitUntil(kick());
      return answerOf(waiter, () => {
        // Unanswered for this long (the round is lost and no other request came to replace it):
        // taken out of the queue in the same turn, so no later round admits it for nobody.
        waiters = waiters.filter((w) => w !== waiter);
      }).then((taken) => taken.begin(waitUntil));
    },
    flush: () => kick(),
  };
}

/**
 * A waiting request learns its answer from timers of its own (own-timer-wait.ts), never from a
 * promise the round resolves: the round runs in another request's context, and a request woken
 * by that request's resolution ran on (under load, on plain workerd) with its async context, so
 * the supplier fetch after admission failed with "Cannot perform I/O on behalf of a different
 * request": 502s in bursts, every one a request that had waited here (README "Status"). Past the
 * lost-round insurance (STALLED_MS) it stops waiting with a 503.
 */
const MAX_WAIT_MS = 20_000;

async function answerOf(waiter: Waiter, abandon: () => void): Promise<Taken> {
  const outcome = await untilOnOwnTimers(() => waiter.outcome, { timeoutMs: MAX_WAIT_MS });
  if (outcome === null) {
    abandon();
    throw budgetUnconfirmed(5);
  }
  if ('error' in outcome) throw outcome.error;
  return outcome.taken;
}

/** The dimension a refusal is about: money (budgets, wallet), tokens (TPM), or every request (null). */
const REFUSED_IN: Record<DenialReason, 'money' | 'tokens' | null> = {
  wallet: 'money',
  user_budget: 'money',
  key_budget: 'money',
  tpm: 'tokens',
  rpm: null,
  inactive: null,
};

/** Whether a lease holds at least the need a remembered refusal was for, in the dimension it names. */
function grantCovers(lease: LeaseState, denial: NonNullable<ScopeState['denial']>): boolean {
  const dimension = REFUSED_IN[denial.reason];
  if (dimension === null) return true;
  const held = lease[dimension];
  return held === null || held >= denial.need[dimension];
}

/** 503 allowance_unavailable: no lease could be had, for a reason that is the gateway's, not the client's. */
function budgetUnconfirmed(retryAfterSeconds: number): ApiError {
  return new ApiError('allowance_unavailable', 'The gateway cannot confirm your budget right now. Retry shortly.', { headers: { 'retry-after': String(retryAfterSeconds) } });
}

/**
 * One dimension of a lease is low with room for fewer than a burst of requests of `one` each (a
 * lease smaller than two bursts, as a scope near scarcity grants, counts as low from half of
 * it), or below a quarter of its `size`; a dimension the lease does not limit (null) never is.
 */
function low(room: number, size: number | null, one: number): boolean {
  return size !== null && room < Math.max(size * RENEW_BELOW, Math.min(one * BURST_REQUESTS, size / 2));
}

/** OpenAI-style rate-limit headers from the key lease (the one with RPM/TPM), if any. */
function rateHeaders(leases: LeaseState[], now: number): Record<string, string> {
  const lease = leases.find((l) => l.rate !== null);
  if (!lease || !lease.rate) return {};
  const remaining = {
    requests: lease.requests === null ? null : lease.requests - lease.admitted + (lease.rate.free_requests ?? 0),
    tokens: lease.tokens === null ? null : lease.tokens - lease.reservedTokens - lease.settledTokens + (lease.rate.free_tokens ?? 0),
  };
  return limitHeaders(lease.rate, remaining, lease.windowEndMs === null ? null : lease.windowEndMs - now);
}

function limitHeaders(rate: Lease['rate'], remaining: { requests: number | null; tokens: number | null } | null, resetMs: number | null): Record<string, string> {
  const headers: Record<string, string> = {};
  if (!rate) return headers;
  const reset = resetMs === null ? null : `${Math.max(0, Math.ceil(resetMs / 1000))}s`;
  if (rate.rpm !== null) {
    headers['x-ratelimit-limit-requests'] = String(rate.rpm);
    headers['x-ratelimit-remaining-requests'] = String(Math.max(0, remaining?.requests ?? rate.free_requests ?? 0));
    if (reset) headers['x-ratelimit-reset-requests'] = reset;
  }
  if (rate.tpm !== null) {
    headers['x-ratelimit-limit-tokens'] = String(rate.tpm);
    headers['x-ratelimit-remaining-tokens'] = String(Math.max(0, remaining?.tokens ?? rate.free_tokens ?? 0));
    if (reset) headers['x-ratelimit-reset-tokens'] = reset;
  }
  return headers;
}
