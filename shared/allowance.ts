// Allowance leases (ARCHITECTURE.md §4): the wire contract of POST /node/v1/allowances.
//
// A lease is a slice of one scope's remaining allowance, granted atomically by the control plane
// to one edge node for a short time:
//   org  - the org's prepaid wallet (money)
//   user - a member's budget in one org for the current period (money)
//   key  - the key's budget for the current period (money) and its RPM/TPM for the current UTC
//          minute (requests, tokens)
// A request reserves its worst case from every lease that applies to it before going upstream and
// settles to its real cost after. One call carries everything an edge has to say: lowered caps and
// closes of leases it no longer admits under, extensions of leases with requests still running,
// and new acquisitions. All amounts are integers (µUSD, requests, tokens).

import { z } from 'zod';

export const AllowanceScope = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('org'), org_id: z.uuid() }),
  z.object({ kind: z.literal('user'), org_id: z.uuid(), user_id: z.uuid() }),
  z.object({ kind: z.literal('key'), key_id: z.uuid() }),
]);
export type AllowanceScope = z.infer<typeof AllowanceScope>;

export function scopeKey(scope: AllowanceScope): string {
  switch (scope.kind) {
    case 'org':
      return `org:${scope.org_id}`;
    case 'user':
      return `user:${scope.org_id}:${scope.user_id}`;
    case 'key':
      return `key:${scope.key_id}`;
  }
}

const Count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/** Requests are counted in an `integer` column (migration 0012): a larger count would fail there. */
const RequestCount = z.number().int().nonnegative().max(2_147_483_647);

/** One dimension of a demand: the least that admits one waiting request, all of them, and a prefetch. */
const Demand = z.object({ need: Count, demand: Count, prefetch: Count });
export type Demand = z.infer<typeof Demand>;

/** A grant takes at most this share of what is free beyond the demand as a buffer for later requests. */
const PREFETCH_SHARE = 8;
/** Below this many requests' worth left, no buffer at all: the rest goes only to waiting requests. */
const SCARCE_REQUESTS = 16;

/**
 * What one dimension of a scope may be granted from `free`, or null when not even one waiting
 * request fits: the waiting demand first, plus at most an eighth of what is free as a buffer; once
 * less than SCARCE_REQUESTS requests' worth is left, no buffer, so no edge holds an unused slice
 * while another answers 402. The control plane decides with it (control-plane/allowances.ts).
 */
export function grantSize(free: number, d: Demand): number | null {
  if (free <= 0 || free < d.need) return null;
  if (free < SCARCE_REQUESTS * Math.max(d.need, 1)) return Math.min(free, d.demand);
  return Math.min(free, d.demand + Math.min(d.prefetch, Math.floor(free / PREFETCH_SHARE)));
}

export const MAX_ACQUIRE = 200;
export const MAX_LEASE_UPDATES = 2000;

export const AllowanceSync = z.object({
  /** The edge's clock (ms): picks the budget period and rate window the lease belongs to. */
  at: z.number().int().positive(),
  acquire: z
    .array(z.object({ scope: AllowanceScope, money: Demand, requests: Demand, tokens: Demand }))
    .max(MAX_ACQUIRE)
    .default([]),
  /**
   * Leases the edge no longer admits under: `money_cap` and `tokens_cap` are what was settled plus
   * what is still reserved by running requests (never above the grant), `requests_used` how many
   * were admitted. `closed` once nothing runs under it any more: the caps are then final usage.
   */
  update: z
    .array(z.object({ lease_id: z.uuid(), money_cap: Count, tokens_cap: Count, requests_used: RequestCount, closed: z.boolean() }))
    .max(MAX_LEASE_UPDATES)
    .default([]),
  /** Leases with requests still running (long streams): kept alive for another lease lifetime. */
  extend: z.array(z.uuid()).max(MAX_LEASE_UPDATES).default([]),
});
export type AllowanceSync = z.input<typeof AllowanceSync>;

export const DenialReason = z.enum(['wallet', 'user_budget', 'key_budget', 'rpm', 'tpm', 'inactive']);
export type DenialReason = z.infer<typeof DenialReason>;

export const Lease = z.object({
  id: z.uuid(),
  /** null: the scope has no limit in this dimension. */
  money: Count.nullable(),
  requests: Count.nullable(),
  tokens: Count.nullable(),
  /** How long from the answer the edge may admit under it; the control plane holds it a little longer. */
  admit_ms: z.number().int().positive(),
  /** The budget period (key and user scopes with a daily or monthly budget): admit only inside it. */
  period_end: z.number().int().nullable(),
  /** The rate window (key scope with RPM/TPM): admit only before it ends. */
  window_end: z.number().int().nullable(),
  /** For x-ratelimit-* headers: the key's limits and what no lease holds yet in this window. */
  rate: z
    .object({ rpm: z.number().int().nullable(), tpm: z.number().int().nullable(), free_requests: Count.nullable(), free_tokens: Count.nullable() })
    .nullable(),
});
export type Lease = z.infer<typeof Lease>;

export const AcquireAnswer = z.discriminatedUnion('outcome', [
  z.object({ outcome: z.literal('granted'), lease: Lease }),
  z.object({
    outcome: z.literal('denied'),
    reason: DenialReason,
    message: z.string(),
    /** Rate limits: when the window that is full ends. */
    retry_after_ms: z.number().int().nonnegative().nullable(),
    rate: Lease.shape.rate,
  }),
]);
export type AcquireAnswer = z.infer<typeof AcquireAnswer>;

export const AllowanceAnswer = z.object({
  /** In the order of `acquire`. */
  acquired: z.array(AcquireAnswer),
  /** Leases of `extend` that are no longer held (expired first): their running requests are on their own. */
  lost: z.array(z.uuid()),
});
export type AllowanceAnswer = z.infer<typeof AllowanceAnswer>;
