// The wallet ledger: the one module that posts money (migration 0010 keeps the books straight —
// balanced, append-only, balances maintained from entries). Every posting function takes the
// caller's transaction handle, posts idempotently by (kind, ref, org), and reviews the low-balance
// alert of each wallet it moved, answering the alerts it emitted for the caller to log.

import { uuidv7 } from '../shared/ids.ts';
import { formatUsd, type Micros } from '../shared/money.ts';
import { lowBalanceStep } from './billing/low-balance.ts';
import type { Queryable } from './db.ts';
import type { Logger } from './log.ts';
import {
  accountBalance,
  insertAlerts,
  insertEntries,
  insertTransactions,
  lockWalletAlertStates,
  setAlertFlags,
  setThreshold,
  type AlertRow,
  type LedgerKind,
  type NewEntryRow,
} from './sql/ledger.ts';

export type { LedgerKind } from './sql/ledger.ts';

/** Platform accounts; a positive balance is owed or earned, a negative one is money received or given. */
export const PLATFORM_ACCOUNTS = {
  /** Money received through Stripe (goes negative as top-ups are paid). */
  stripe: 'platform:stripe',
  /** The 5% top-up fee. */
  fees: 'platform:fees',
  /** Usage charged to wallets. */
  revenue: 'platform:revenue',
  /** Credit granted (negative) or taken back (positive) by platform staff. */
  adjustments: 'platform:adjustments',
} as const;

/** An org's wallet account; a positive balance is credit the customer holds. */
export function walletAccountId(orgId: string): string {
  return `wallet:${orgId}`;
}

export interface LedgerLine {
  accountId: string;
  micros: Micros;
}

export interface LedgerPosting {
  kind: LedgerKind;
  orgId: string;
  /** Idempotency: a second posting with the same (kind, ref, orgId) is skipped. */
  ref: string;
  /** 'user:<uuid>', 'stripe:<event id>', 'usage:<node id>', 'system'. */
  actor: string;
  memo: string;
  lines: LedgerLine[];
}

export interface PostedTransaction {
  id: string;
  kind: LedgerKind;
  orgId: string;
  ref: string;
}

export interface LowBalanceAlert {
  id: string;
  orgId: string;
  balanceMicros: Micros;
  thresholdMicros: Micros;
  /** The posting that crossed the threshold; null when a threshold change did. */
  transactionId: string | null;
  createdAt: Date;
}

export interface PostResult {
  /** Only the transactions actually written: one already posted under its ref is left out. */
  posted: PostedTransaction[];
  alerts: LowBalanceAlert[];
}

const isWallet = (accountId: string) => accountId.startsWith('wallet:');

/** Wallets first, then platform accounts, each by id: every posting locks account rows in one order. */
function lockOrder(a: NewEntryRow, b: NewEntryRow): number {
  if (isWallet(a.account_id) !== isWallet(b.account_id)) return isWallet(a.account_id) ? -1 : 1;
  return a.account_id < b.account_id ? -1 : a.account_id > b.account_id ? 1 : 0;
}

function checkBalanced(p: LedgerPosting): void {
  let sum = 0;
  for (const line of p.lines) {
    if (!Number.isSafeInteger(line.micros)) throw new RangeError(`ledger: not an integer µUSD amount: ${line.micros}`);
    sum += line.micros;
  }
  if (sum !== 0) throw new RangeError(`ledger: a ${p.kind} transaction must sum to zero, not ${sum}`);
  if (!p.lines.some((line) => line.micros !== 0)) throw new RangeError(`ledger: a ${p.kind} transaction moves no money`);
}

/**
 * Posts balanced transactions in the caller's database transaction (the database also refuses an
 * unbalanced one at commit), then reviews the low-balance alert of every wallet they moved.
 */
export async function postTransactions(tx: Queryable, postings: LedgerPosting[], options: { now?: Date } = {}): Promise<PostResult> {
  if (postings.length === 0) return { posted: [], alerts: [] };
  postings.forEach(checkBalanced);
  const nowMs = (options.now ?? new Date()).getTime();
  const rows = postings.map((p) => ({ id: uuidv7(nowMs), kind: p.kind, org_id: p.orgId, ref: p.ref, actor: p.actor, memo: p.memo }));
  const inserted = await insertTransactions(tx, rows);
  const entries: NewEntryRow[] = [];
  const posted: PostedTransaction[] = [];
  postings.forEach((p, i) => {
    const row = rows[i]!;
    if (!inserted.has(row.id)) return;
    posted.push({ id: row.id, kind: p.kind, orgId: p.orgId, ref: p.ref });
    for (const line of p.lines) {
      if (line.micros !== 0) entries.push({ id: uuidv7(nowMs), transaction_id: row.id, account_id: line.accountId, amount_micros: line.micros });
    }
  });
  if (entries.length === 0) return { posted, alerts: [] };
  await insertEntries(tx, entries.sort(lockOrder));
  const alerts = await reviewLowBalance(
    tx,
    posted.map((p) => ({ orgId: p.orgId, transactionId: p.id })),
    nowMs,
  );
  return { posted, alerts };
}

/**
 * Emits one alert per wallet that is now below its threshold and was not already alerted, and
 * re-arms those back at or above it. The posting's balance update holds each wallet row until
 * commit, so concurrent postings to one wallet review it one after the other.
 */
async function reviewLowBalance(tx: Queryable, moved: { orgId: string; transactionId: string | null }[], nowMs: number): Promise<LowBalanceAlert[]> {
  const byOrg = new Map(moved.map((m) => [m.orgId, m.transactionId]));
  const wallets = await lockWalletAlertStates(tx, [...byOrg.keys()]);
  const flags: { org_id: string; alerted: boolean }[] = [];
  const alerts: Omit<AlertRow, 'created_at' | 'kind'>[] = [];
  for (const w of wallets) {
    const step = lowBalanceStep({ balanceMicros: w.balance_micros, thresholdMicros: w.low_balance_threshold_micros, alerted: w.low_balance_alerted });
    if (step === 'none') continue;
    flags.push({ org_id: w.org_id, alerted: step === 'alert' });
    if (step === 'alert') {
      alerts.push({ id: uuidv7(nowMs), org_id: w.org_id, balance_micros: w.balance_micros, threshold_micros: w.low_balance_threshold_micros, transaction_id: byOrg.get(w.org_id) ?? null });
    }
  }
  await setAlertFlags(tx, flags);
  return (await insertAlerts(tx, alerts)).map(presentAlert);
}

function presentAlert(r: AlertRow): LowBalanceAlert {
  return { id: r.id, orgId: r.org_id, balanceMicros: r.balance_micros, thresholdMicros: r.threshold_micros, transactionId: r.transaction_id, createdAt: r.created_at };
}

/**
 * Usage ingestion, inside its own transaction: the per-org sums of one batch's newly ingested
 * costs. One 'usage' transaction per org (wallet −micros, platform:revenue +micros); zero sums are
 * skipped; a batch already posted under `ref` is skipped. A wallet may go negative here: the usage
 * happened, and the allowance leases bound by how much.
 */
export async function postUsageDebits(
  tx: Queryable,
  debits: { org_id: string; micros: number }[],
  ref: string,
  options: { actor?: string; now?: Date } = {},
): Promise<LowBalanceAlert[]> {
  const sums = new Map<string, number>();
  for (const d of debits) {
    if (!Number.isSafeInteger(d.micros) || d.micros < 0) throw new RangeError(`postUsageDebits: bad amount ${d.micros} for org ${d.org_id}`);
    sums.set(d.org_id, (sums.get(d.org_id) ?? 0) + d.micros);
  }
  const postings: LedgerPosting[] = [...sums]
    .filter(([, micros]) => micros > 0)
    .map(([orgId, micros]) => ({
      kind: 'usage',
      orgId,
      ref,
      actor: options.actor ?? 'usage',
      memo: '',
      lines: [
        { accountId: walletAccountId(orgId), micros: -micros },
        { accountId: PLATFORM_ACCOUNTS.revenue, micros },
      ],
    }));
  const result = await postTransactions(tx, postings, options.now ? { now: options.now } : {});
  return result.alerts;
}

/** The wallet's balance in µUSD (0 for an org without a wallet yet). */
export async function walletBalanceMicros(q: Queryable, orgId: string): Promise<number> {
  return (await accountBalance(q, walletAccountId(orgId))) ?? 0;
}

export type AdjustmentResult =
  | { ok: true; transaction: PostedTransaction; balanceMicros: Micros; alerts: LowBalanceAlert[] }
  /** A debit that would take the wallet below zero; nothing was posted. */
  | { ok: false; denial: 'would_overdraw' };

/**
 * A platform adjustment of an org's wallet (signed: + credits, − debits), against
 * platform:adjustments; or, with kind 'refund', money paid back to the customer outside the wallet
 * (always a debit), against platform:stripe. A debit may not take the wallet below zero. The
 * caller writes the audit row in the same transaction (the admin route does; the demo seeds).
 */
export async function creditAdjustment(
  tx: Queryable,
  a: { orgId: string; micros: Micros; actor: string; memo: string; kind?: 'adjustment' | 'refund'; ref?: string; now?: Date },
): Promise<AdjustmentResult> {
  const kind = a.kind ?? 'adjustment';
  if (!Number.isSafeInteger(a.micros) || a.micros === 0) throw new RangeError(`creditAdjustment: bad amount ${a.micros}`);
  if (kind === 'refund' && a.micros > 0) throw new RangeError('creditAdjustment: a refund takes money out of the wallet (negative micros)');
  const counter = kind === 'refund' ? PLATFORM_ACCOUNTS.stripe : PLATFORM_ACCOUNTS.adjustments;
  const now = a.now ?? new Date();
  const posting: LedgerPosting = {
    kind,
    orgId: a.orgId,
    ref: a.ref ?? uuidv7(now.getTime()),
    actor: a.actor,
    memo: a.memo,
    lines: [
      { accountId: walletAccountId(a.orgId), micros: a.micros },
      { accountId: counter, micros: -a.micros },
    ],
  };
  // Post first, then look: the posting's own update holds the wallet row, so the balance read
  // after it is exact; an overdraw is undone with the savepoint (the app role may not SELECT …
  // FOR UPDATE on ledger_accounts, by design).
  await tx.query('SAVEPOINT ledger_adjustment');
  const result = await postTransactions(tx, [posting], { now });
  const balanceMicros = (await accountBalance(tx, walletAccountId(a.orgId)))!;
  const transaction = result.posted[0];
  if (!transaction) {
    await tx.query('ROLLBACK TO SAVEPOINT ledger_adjustment');
    throw new RangeError(`creditAdjustment: ref ${posting.ref} was already posted for this org`);
  }
  if (a.micros < 0 && balanceMicros < 0) {
    await tx.query('ROLLBACK TO SAVEPOINT ledger_adjustment');
    return { ok: false, denial: 'would_overdraw' };
  }
  await tx.query('RELEASE SAVEPOINT ledger_adjustment');
  return { ok: true, transaction, balanceMicros, alerts: result.alerts };
}

/**
 * A paid top-up lands: wallet +credit, platform:fees +fee, platform:stripe −paid, under the
 * Checkout Session id. Answers null when that session was already credited.
 */
export async function creditTopup(
  tx: Queryable,
  t: { orgId: string; sessionId: string; paidMicros: Micros; creditMicros: Micros; feeMicros: Micros; actor: string; memo: string; now?: Date },
): Promise<{ transaction: PostedTransaction; alerts: LowBalanceAlert[] } | null> {
  if (t.creditMicros + t.feeMicros !== t.paidMicros || t.creditMicros <= 0 || t.feeMicros < 0) {
    throw new RangeError('creditTopup: credit + fee must equal paid');
  }
  const result = await postTransactions(
    tx,
    [
      {
        kind: 'topup',
        orgId: t.orgId,
        ref: t.sessionId,
        actor: t.actor,
        memo: t.memo,
        lines: [
          { accountId: walletAccountId(t.orgId), micros: t.creditMicros },
          { accountId: PLATFORM_ACCOUNTS.fees, micros: t.feeMicros },
          { accountId: PLATFORM_ACCOUNTS.stripe, micros: -t.paidMicros },
        ],
      },
    ],
    t.now ? { now: t.now } : {},
  );
  const transaction = result.posted[0];
  return transaction ? { transaction, alerts: result.alerts } : null;
}

/**
 * Money Stripe took back from a credited top-up (`paidMicros` of what was paid; negative: given
 * back, a dispute won) leaves the books as it came in, in proportion: the credit part from the
 * wallet, the fee part from platform:fees, against platform:stripe. The wallet may go below zero:
 * the credit may be spent already, and the money is gone from Stripe either way. `ref` is the
 * Stripe event's id (one posting per event).
 */
export async function reverseTopup(
  tx: Queryable,
  r: { orgId: string; topup: { paidMicros: Micros; creditMicros: Micros }; paidMicros: Micros; ref: string; actor: string; memo: string; now?: Date },
): Promise<{ transaction: PostedTransaction; alerts: LowBalanceAlert[] } | null> {
  if (!Number.isSafeInteger(r.paidMicros) || r.paidMicros === 0 || Math.abs(r.paidMicros) > r.topup.paidMicros) {
    throw new RangeError(`reverseTopup: bad amount ${r.paidMicros}`);
  }
  // The credit part rounded half away from zero, as the top-up's own split was; the fee part is
  // the rest, so the two add up to what moved, and a full refund reverses the top-up exactly.
  const sign = r.paidMicros < 0 ? -1n : 1n;
  const magnitude = BigInt(Math.abs(r.paidMicros));
  const creditPart = Number(sign * ((magnitude * BigInt(r.topup.creditMicros) * 2n + BigInt(r.topup.paidMicros)) / (2n * BigInt(r.topup.paidMicros))));
  const feePart = r.paidMicros - creditPart;
  const result = await postTransactions(
    tx,
    [
      {
        kind: 'reversal',
        orgId: r.orgId,
        ref: r.ref,
        actor: r.actor,
        memo: r.memo,
        lines: [
          { accountId: walletAccountId(r.orgId), micros: -creditPart },
          { accountId: PLATFORM_ACCOUNTS.fees, micros: -feePart },
          { accountId: PLATFORM_ACCOUNTS.stripe, micros: r.paidMicros },
        ],
      },
    ],
    r.now ? { now: r.now } : {},
  );
  const transaction = result.posted[0];
  return transaction ? { transaction, alerts: result.alerts } : null;
}

/**
 * Changes an org's low-balance threshold and reviews the alert at once: raising it above the
 * balance is a downward crossing too (one alert), lowering it below the balance re-arms it.
 */
export async function setLowBalanceThreshold(tx: Queryable, orgId: string, thresholdMicros: Micros, options: { now?: Date } = {}): Promise<LowBalanceAlert[]> {
  if (!Number.isSafeInteger(thresholdMicros) || thresholdMicros < 0) throw new RangeError(`bad threshold ${thresholdMicros}`);
  await setThreshold(tx, orgId, thresholdMicros);
  return reviewLowBalance(tx, [{ orgId, transactionId: null }], (options.now ?? new Date()).getTime());
}

/** One log line per alert: ids and amounts only. */
export function logLowBalanceAlerts(log: Logger, alerts: readonly LowBalanceAlert[]): void {
  for (const alert of alerts) {
    log('warn', 'wallet low balance', {
      alert_id: alert.id,
      org_id: alert.orgId,
      balance_usd: formatUsd(alert.balanceMicros),
      threshold_usd: formatUsd(alert.thresholdMicros),
      transaction_id: alert.transactionId,
    });
  }
}
