// Allowance leases, the control plane's half (ARCHITECTURE.md §4, shared/allowance.ts): grants
// are decided one scope at a time under a transaction-scoped advisory lock on that scope, from
// one snapshot of its standing, so two edges asking at once can never both get the same money,
// requests or tokens. What a grant may be:
//
//   free  = limit − spent − held          (org: wallet balance − held)
//   grant = min(free, demand + min(prefetch, free / 8))   and refused when free < need
//
// `need` is the least that admits one waiting request, `demand` what all waiting requests need,
// `prefetch` what the edge would like to hold for the requests still to come. An edge gets what
// its waiting requests need first, and at most an eighth of the rest as a buffer; once less than
// 16 requests' worth is left there is no buffer at all, and the last of it goes to requests that
// are actually waiting, wherever they are: no edge sits on an unused slice while another answers
// 402. An edge renewing ahead of need sends demand 0: when the scope is scarce it gets nothing.

import { randomUUID } from 'node:crypto';
import { formatUsd } from '../shared/money.ts';
import type { AcquireAnswer, AllowanceAnswer, AllowanceScope, AllowanceSync, Demand, DenialReason } from '../shared/allowance.ts';
import { AllowanceSync as AllowanceSyncSchema, grantSize, scopeKey } from '../shared/allowance.ts';
import type { Database, Queryable } from './db.ts';
import {
  extendLeases,
  insertLease,
  keyFacts,
  orgFacts,
  pruneLeases,
  standingOf,
  updateLeases,
  userFacts,
  type BudgetPeriod,
  type ScopeFacts,
} from './sql/allowances.ts';

/** How long an edge may admit under a lease; the control plane holds it a little longer. */
export const LEASE_ADMIT_MS = 20_000;
/** Expiry after a grant or an extension: past it, a lease nobody closed holds nothing. */
export const LEASE_HOLD_MS = 30_000;
/** An edge clock further off than this is ignored for picking periods and windows. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;
const RATE_WINDOW_MS = 60_000;
const PRUNE_EVERY_MS = 60_000;

/** The UTC calendar period containing `atMs`; cumulative: no bounds. */
export function periodBounds(period: BudgetPeriod | null, atMs: number): { start: Date | null; end: Date | null } {
  if (period === null || period === 'cumulative') return { start: null, end: null };
  const at = new Date(atMs);
  if (period === 'daily') {
    const start = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate());
    return { start: new Date(start), end: new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + 1)) };
  }
  return { start: new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1)), end: new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1)) };
}

/** The UTC minute containing `atMs`: RPM and TPM count per fixed minute across all edges. */
export function rateWindow(atMs: number): { start: Date; end: Date } {
  const start = atMs - (atMs % RATE_WINDOW_MS);
  return { start: new Date(start), end: new Date(start + RATE_WINDOW_MS) };
}

function denied(reason: DenialReason, message: string, retryAfterMs: number | null = null, rate: RateInfo | null = null): AcquireAnswer {
  return { outcome: 'denied', reason, message, retry_after_ms: retryAfterMs, rate };
}

type RateInfo = { rpm: number | null; tpm: number | null; free_requests: number | null; free_tokens: number | null };

/** "$500.00", or all six decimals when cents are not exact. */
function usd(micros: number): string {
  const text = formatUsd(micros);
  return micros % 10_000 === 0 ? text.slice(0, -4) : text;
}

const periodWord = (p: BudgetPeriod | null) => (p === 'daily' ? 'daily' : p === 'monthly' ? 'monthly' : 'cumulative');

async function factsOf(q: Queryable, scope: AllowanceScope, now: Date): Promise<ScopeFacts | null> {
  switch (scope.kind) {
    case 'org':
      return orgFacts(q, scope.org_id);
    case 'user':
      return userFacts(q, scope.org_id, scope.user_id);
    case 'key':
      return keyFacts(q, scope.key_id, now);
  }
}

async function acquireOne(
  db: Database,
  nodeId: string,
  request: { scope: AllowanceScope; money: Demand; requests: Demand; tokens: Demand },
  atMs: number,
  now: Date,
): Promise<AcquireAnswer> {
  const { scope } = request;
  const key = scopeKey(scope);
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`allowance:${key}`]);
    const facts = await factsOf(tx, scope, now);
    if (!facts || !facts.active) return denied('inactive', 'This key, its owner or its organisation is not active.');

    const moneyLimited = scope.kind === 'org' || facts.budget_limit !== null;
    const period = scope.kind === 'org' ? { start: null, end: null } : periodBounds(facts.budget_period, atMs);
    const window = facts.rpm !== null || facts.tpm !== null ? rateWindow(atMs) : null;
    const standing = await standingOf(tx, {
      scope: key,
      spent:
        scope.kind === 'org'
          ? { kind: 'wallet', orgId: scope.org_id }
          : !moneyLimited
            ? null
            : scope.kind === 'key'
              ? { kind: 'key', keyId: scope.key_id }
              : { kind: 'user', orgId: scope.org_id, userId: scope.user_id },
      periodStart: period.start,
      periodEnd: period.end,
      windowStart: window?.start ?? null,
      now,
    });

    let money: number | null = null;
    if (moneyLimited) {
      const free = scope.kind === 'org' ? standing.base - standing.held_money : facts.budget_limit! - standing.base - standing.held_money;
      money = grantSize(free, request.money);
      if (money === null) {
        if (scope.kind === 'org') {
          return denied(
            'wallet',
            free <= 0
              ? "Your organisation's prepaid balance is used up. Top up to continue."
              : `Your organisation's available balance ($${usd(free)}) does not cover this request's maximum cost ($${usd(request.money.need)}). Lower max_tokens or top up.`,
          );
        }
        const whose = scope.kind === 'key' ? "This key's" : "This key owner's";
        const resets = period.end ? `; it resets at ${period.end.toISOString()}` : '';
        return denied(
          scope.kind === 'key' ? 'key_budget' : 'user_budget',
          free <= 0
            ? `${whose} ${periodWord(facts.budget_period)} budget of $${usd(facts.budget_limit!)} is spent${resets}.`
            : `${whose} ${periodWord(facts.budget_period)} budget has $${usd(free)} left, less than this request's maximum cost ($${usd(request.money.need)})${resets}. Lower max_tokens.`,
        );
      }
    }

    const freeRequests = facts.rpm === null ? null : facts.rpm - standing.held_requests;
    const freeTokens = facts.tpm === null ? null : facts.tpm - standing.held_tokens;
    const rate: RateInfo | null = window ? { rpm: facts.rpm, tpm: facts.tpm, free_requests: freeRequests, free_tokens: freeTokens } : null;
    const retryAfter = window ? Math.max(0, window.end.getTime() - atMs) : null;
    let requests: number | null = null;
    if (freeRequests !== null) {
      requests = grantSize(freeRequests, { ...request.requests, need: Math.max(1, request.requests.need) });
      if (requests === null) return denied('rpm', `Rate limit of ${facts.rpm} requests per minute reached for this key.`, retryAfter, rate);
    }
    let tokens: number | null = null;
    if (freeTokens !== null) {
      if (request.tokens.need > facts.tpm!) {
        return denied('tpm', `This request may use up to ${request.tokens.need} tokens, more than this key's limit of ${facts.tpm} tokens per minute. Lower max_tokens.`, null, rate);
      }
      tokens = grantSize(freeTokens, request.tokens);
      if (tokens === null) return denied('tpm', `Rate limit of ${facts.tpm} tokens per minute reached for this key.`, retryAfter, rate);
    }

    const id = randomUUID();
    await insertLease(tx, {
      id,
      node_id: nodeId,
      scope: key,
      org_id: facts.org_id,
      period_start: moneyLimited ? period.start : null,
      window_start: window?.start ?? null,
      money,
      requests,
      tokens,
      granted_at: now,
      expires_at: new Date(now.getTime() + LEASE_HOLD_MS),
    });
    return {
      outcome: 'granted',
      lease: {
        id,
        money,
        requests,
        tokens,
        admit_ms: LEASE_ADMIT_MS,
        period_end: moneyLimited && period.end ? period.end.getTime() : null,
        window_end: window ? window.end.getTime() : null,
        rate: rate && {
          ...rate,
          free_requests: rate.free_requests === null ? null : rate.free_requests - (requests ?? 0),
          free_tokens: rate.free_tokens === null ? null : rate.free_tokens - (tokens ?? 0),
        },
      },
    };
  });
}

export interface AllowanceService {
  sync(nodeId: string, body: AllowanceSync): Promise<AllowanceAnswer>;
}

export function createAllowanceService(deps: { db: Database; now: () => Date }): AllowanceService {
  let lastPrune = 0;
  return {
    async sync(nodeId, input) {
      const body = AllowanceSyncSchema.parse(input);
      const now = deps.now();
      const atMs = Math.abs(body.at - now.getTime()) <= MAX_CLOCK_SKEW_MS ? body.at : now.getTime();
      // Returns first: what an edge gives back is free again for the acquisitions in this same call.
      await updateLeases(deps.db, nodeId, body.update, now);
      const lost = await extendLeases(deps.db, nodeId, body.extend, now, new Date(now.getTime() + LEASE_HOLD_MS));
      // Scopes are independent (each transaction locks only its own): decided in parallel.
      const acquired = await Promise.all(body.acquire.map((request) => acquireOne(deps.db, nodeId, request, atMs, now)));
      if (now.getTime() - lastPrune > PRUNE_EVERY_MS) {
        lastPrune = now.getTime();
        await pruneLeases(deps.db, now);
      }
      return { acquired, lost };
    },
  };
}
