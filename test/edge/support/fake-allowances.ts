// The control plane's allowance endpoint as edge tests see it: grants from in-memory limits with
// the control plane's own rule (shared/allowance.ts grantSize), spending what the edge reports
// when it closes a lease. By default every org holds $1,000,000, so
// tests about something else are never refused.

import type { AcquireAnswer, AllowanceAnswer, AllowanceSync } from '../../../shared/allowance.ts';
import { AllowanceSync as AllowanceSyncSchema, grantSize, scopeKey } from '../../../shared/allowance.ts';

interface Granted {
  scope: string;
  money: number | null;
  requests: number | null;
  tokens: number | null;
  closed: boolean;
}

export interface FakeAllowances {
  sync: (body: AllowanceSync) => Promise<AllowanceAnswer>;
  /** An org's wallet in µUSD (default 1e12). */
  setWallet: (orgId: string, micros: number) => void;
  /** A key's budget in µUSD for the current period, and its RPM / TPM. */
  setKeyLimits: (keyId: string, limits: { budget?: number; rpm?: number; tpm?: number }) => void;
  /** Every later sync throws, as a network error would; `goUp` undoes it. */
  goDown: () => void;
  goUp: () => void;
  /** Every sync body received, in order. */
  calls: AllowanceSync[];
  /** Money settled in closed leases, per scope key. */
  spent: (scope: string) => number;
}

export function createFakeAllowances(options: { nowMs: () => number; windowEndMs?: () => number }): FakeAllowances {
  const wallets = new Map<string, number>();
  const keyLimits = new Map<string, { budget?: number; rpm?: number; tpm?: number }>();
  const leases = new Map<string, Granted>();
  const spentBy = new Map<string, number>();
  const calls: AllowanceSync[] = [];
  let down = false;
  let next = 0;

  // Money of a closed lease moves to `spent`; requests and tokens count for the whole (one) window.
  const held = (scope: string, dim: 'money' | 'requests' | 'tokens') =>
    [...leases.values()].filter((l) => l.scope === scope && (dim !== 'money' || !l.closed)).reduce((sum, l) => sum + (l[dim] ?? 0), 0);

  function acquire(request: NonNullable<AllowanceSync['acquire']>[number]): AcquireAnswer {
    const scope = scopeKey(request.scope);
    let money: number | null = null;
    let requests: number | null = null;
    let tokens: number | null = null;
    const limits = request.scope.kind === 'key' ? keyLimits.get(request.scope.key_id) : undefined;
    const windowEnd = options.windowEndMs?.() ?? options.nowMs() + 60_000;
    const rate = limits && (limits.rpm !== undefined || limits.tpm !== undefined)
      ? { rpm: limits.rpm ?? null, tpm: limits.tpm ?? null, free_requests: null, free_tokens: null }
      : null;
    if (request.scope.kind === 'org') {
      const free = (wallets.get(request.scope.org_id) ?? 1e12) - (spentBy.get(scope) ?? 0) - held(scope, 'money');
      money = grantSize(free, request.money);
      if (money === null) return { outcome: 'denied', reason: 'wallet', message: 'The prepaid balance is used up.', retry_after_ms: null, rate: null };
    }
    if (limits?.budget !== undefined) {
      money = grantSize(limits.budget - (spentBy.get(scope) ?? 0) - held(scope, 'money'), request.money);
      if (money === null) return { outcome: 'denied', reason: 'key_budget', message: "This key's budget is spent.", retry_after_ms: null, rate: null };
    }
    if (limits?.rpm !== undefined) {
      requests = grantSize(limits.rpm - held(scope, 'requests'), { ...request.requests, need: 1 });
      if (requests === null) return { outcome: 'denied', reason: 'rpm', message: 'Rate limit reached.', retry_after_ms: windowEnd - options.nowMs(), rate };
    }
    if (limits?.tpm !== undefined) {
      tokens = grantSize(limits.tpm - held(scope, 'tokens'), request.tokens);
      if (tokens === null) return { outcome: 'denied', reason: 'tpm', message: 'Token rate limit reached.', retry_after_ms: windowEnd - options.nowMs(), rate };
    }
    const id = `00000000-0000-4000-8000-${String(++next).padStart(12, '0')}`;
    leases.set(id, { scope, money, requests, tokens, closed: false });
    const free = rate && {
      ...rate,
      free_requests: limits?.rpm === undefined ? null : limits.rpm - held(scope, 'requests'),
      free_tokens: limits?.tpm === undefined ? null : limits.tpm - held(scope, 'tokens'),
    };
    return {
      outcome: 'granted',
      lease: { id, money, requests, tokens, admit_ms: 20_000, period_end: null, window_end: rate ? windowEnd : null, rate: free },
    };
  }

  return {
    calls,
    setWallet: (orgId, micros) => wallets.set(orgId, micros),
    setKeyLimits: (keyId, limits) => keyLimits.set(keyId, limits),
    goDown: () => (down = true),
    goUp: () => (down = false),
    spent: (scope) => spentBy.get(scope) ?? 0,
    async sync(input) {
      calls.push(structuredClone(input));
      if (down) throw new Error('control plane unreachable');
      const body = AllowanceSyncSchema.parse(input);
      for (const update of body.update) {
        const lease = leases.get(update.lease_id);
        if (!lease || lease.closed) continue;
        if (lease.money !== null) lease.money = Math.min(lease.money, update.money_cap);
        if (lease.tokens !== null) lease.tokens = Math.min(lease.tokens, update.tokens_cap);
        if (lease.requests !== null) lease.requests = Math.min(lease.requests, update.requests_used);
        if (update.closed) {
          lease.closed = true;
          spentBy.set(lease.scope, (spentBy.get(lease.scope) ?? 0) + (lease.money ?? 0));
        }
      }
      return { acquired: body.acquire.map(acquire), lost: [] };
    },
  };
}
