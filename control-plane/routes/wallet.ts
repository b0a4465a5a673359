// /v1/manage/orgs/:id/wallet…: an org's prepaid wallet — its balance and low-balance threshold,
// its ledger entries, its low-balance alerts, and refunds and adjustments by platform staff.

import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import { microsToUsd, usdToMicros } from '../../shared/money.ts';
import type { ApiSpec } from '../api-spec.ts';
import { writeAudit } from '../audit.ts';
import { requireWallet, type WalletAction } from '../billing/wallet-access.ts';
import type { Database } from '../db.ts';
import { creditAdjustment, logLowBalanceAlerts, setLowBalanceThreshold } from '../ledger.ts';
import type { Logger } from '../log.ts';
import { PageQuery, toPage } from '../pagination.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { findWallet, listAlerts, listWalletEntries, type AlertRow, type WalletEntryRow, type WalletRow } from '../sql/ledger.ts';
import { findOrg } from '../sql/orgs.ts';
import { UsdAmount } from '../usd-amount.ts';
import { parseJsonBody, parseQuery, pathUuid } from '../validation.ts';

/** The threshold column's bound: $1,000,000. */
const MAX_THRESHOLD_MICROS = 1_000_000_000_000;
/** A hand-made movement beyond $1,000,000 either way is a typo, not an adjustment. */
const MAX_ADJUSTMENT_MICROS = 1_000_000_000_000;

export const UpdateWallet = z.strictObject({
  low_balance_threshold_usd: UsdAmount.refine((micros) => micros <= MAX_THRESHOLD_MICROS, 'must be at most 1000000'),
});

/** Signed USD, at most 6 decimals, not zero: the change to the wallet's balance. */
const SignedUsd = z.number().transform((usd, ctx) => {
  const micros = usdToMicros(Math.abs(usd));
  if (micros === null || micros === 0 || micros > MAX_ADJUSTMENT_MICROS) {
    ctx.addIssue({ code: 'custom', message: 'must be a non-zero USD amount of at most 1000000 either way, with at most 6 decimals' });
    return z.NEVER;
  }
  return usd < 0 ? -micros : micros;
});

export const CreateAdjustment = z
  .strictObject({
    /** + credits the wallet, − debits it. A refund (money paid back outside the wallet) is always negative. */
    amount_usd: SignedUsd,
    kind: z.enum(['adjustment', 'refund']),
    /** Why: required, it is the only explanation the org will see. */
    memo: z.string().trim().min(1).max(500),
  })
  .refine((b) => b.kind !== 'refund' || b.amount_usd < 0, { path: ['amount_usd'], message: 'a refund takes money out of the wallet: must be negative' });

export const walletSpecs: ApiSpec[] = [
  { method: 'get', path: '/v1/manage/orgs/:id/wallet', summary: "Read an org's wallet: balance and low-balance threshold (org owners and admins)", tag: 'billing', access: 'admin', success: { status: 200, description: 'The wallet' } },
  { method: 'patch', path: '/v1/manage/orgs/:id/wallet', summary: 'Set the low-balance alert threshold (org owners)', tag: 'billing', access: 'admin', body: UpdateWallet, success: { status: 200, description: 'The wallet' } },
  { method: 'get', path: '/v1/manage/orgs/:id/wallet/entries', summary: "List the wallet's ledger entries, newest first (org owners and admins)", tag: 'billing', access: 'admin', query: PageQuery, success: { status: 200, description: 'A page of entries' } },
  { method: 'post', path: '/v1/manage/orgs/:id/wallet/adjustments', summary: 'Refund or adjust a wallet (platform staff; audited)', tag: 'billing', access: 'admin', body: CreateAdjustment, success: { status: 201, description: 'The ledger transaction and the new balance' } },
  { method: 'get', path: '/v1/manage/orgs/:id/alerts', summary: "List the org's low-balance alerts, newest first (org owners and admins)", tag: 'billing', access: 'admin', query: PageQuery, success: { status: 200, description: 'A page of alerts' } },
];

function presentWallet(w: WalletRow) {
  return {
    object: 'wallet' as const,
    org_id: w.org_id,
    currency: 'usd' as const,
    balance_usd: microsToUsd(w.balance_micros),
    balance_micros: w.balance_micros,
    low_balance_threshold_usd: microsToUsd(w.low_balance_threshold_micros),
    low_balance_threshold_micros: w.low_balance_threshold_micros,
    low_balance_alerted: w.low_balance_alerted,
  };
}

function presentEntry(e: WalletEntryRow) {
  const { amount_micros, created_at, ...rest } = e;
  return { object: 'ledger_entry' as const, ...rest, amount_usd: microsToUsd(amount_micros), amount_micros, created_at: created_at.toISOString() };
}

function presentAlert(a: AlertRow) {
  return {
    object: 'wallet_alert' as const,
    id: a.id,
    org_id: a.org_id,
    kind: a.kind,
    balance_usd: microsToUsd(a.balance_micros),
    balance_micros: a.balance_micros,
    threshold_usd: microsToUsd(a.threshold_micros),
    threshold_micros: a.threshold_micros,
    transaction_id: a.transaction_id,
    created_at: a.created_at.toISOString(),
  };
}

/** The org id from the path, once the caller may act on its wallet and the org exists. */
async function walletOrg(c: Context<AppEnv>, db: Database, action: WalletAction): Promise<string> {
  const id = pathUuid(c, 'id', 'org');
  requireWallet(c.get('principal'), id, action);
  if (!(await findOrg(db, id))) throw new ApiError('not_found', 'No such org.');
  return id;
}

export function walletRoutes(deps: { db: Database; now: () => Date; log: Logger }) {
  return new Hono<AppEnv>()
    .get('/:id/wallet', async (c) => {
      const orgId = await walletOrg(c, deps.db, 'read');
      return c.json(presentWallet((await findWallet(deps.db, orgId))!));
    })
    .patch('/:id/wallet', async (c) => {
      const body = await parseJsonBody(c, UpdateWallet);
      const orgId = await walletOrg(c, deps.db, 'configure');
      const { wallet, alerts } = await deps.db.transaction(async (tx) => {
        const before = (await findWallet(tx, orgId))!;
        // Unchanged: nothing to write, so no audit row.
        if (before.low_balance_threshold_micros === body.low_balance_threshold_usd) return { wallet: before, alerts: [] };
        const alerts = await setLowBalanceThreshold(tx, orgId, body.low_balance_threshold_usd, { now: deps.now() });
        const after = (await findWallet(tx, orgId))!;
        await writeAudit(tx, actorOf(c), { action: 'wallet.update', targetType: 'wallet', targetId: orgId, orgId, before: presentWallet(before), after: presentWallet(after) });
        return { wallet: after, alerts };
      });
      logLowBalanceAlerts(deps.log, alerts);
      return c.json(presentWallet(wallet));
    })
    .get('/:id/wallet/entries', async (c) => {
      const query = parseQuery(c, PageQuery);
      const orgId = await walletOrg(c, deps.db, 'read');
      const rows = await listWalletEntries(deps.db, { orgId, before: query.after ?? null, limit: query.limit + 1 });
      return c.json(toPage(rows, query.limit, presentEntry));
    })
    .post('/:id/wallet/adjustments', async (c) => {
      const body = await parseJsonBody(c, CreateAdjustment);
      const orgId = await walletOrg(c, deps.db, 'adjust');
      const actor = actorOf(c);
      const result = await deps.db.transaction(async (tx) => {
        const posted = await creditAdjustment(tx, { orgId, micros: body.amount_usd, kind: body.kind, actor: `user:${actor.userId}`, memo: body.memo, now: deps.now() });
        if (!posted.ok) throw new ApiError('conflict', 'The wallet holds less than this debit: it may not go below zero.', { param: 'amount_usd' });
        const answer = {
          object: 'ledger_transaction' as const,
          id: posted.transaction.id,
          kind: body.kind,
          org_id: orgId,
          amount_usd: microsToUsd(body.amount_usd),
          amount_micros: body.amount_usd,
          memo: body.memo,
          balance_usd: microsToUsd(posted.balanceMicros),
          balance_micros: posted.balanceMicros,
        };
        await writeAudit(tx, actor, { action: `wallet.${body.kind}`, targetType: 'ledger_transaction', targetId: posted.transaction.id, orgId, after: answer });
        return { answer, alerts: posted.alerts };
      });
      logLowBalanceAlerts(deps.log, result.alerts);
      return c.json(result.answer, 201);
    })
    .get('/:id/alerts', async (c) => {
      const query = parseQuery(c, PageQuery);
      const orgId = await walletOrg(c, deps.db, 'read');
      const rows = await listAlerts(deps.db, { orgId, before: query.after ?? null, limit: query.limit + 1 });
      return c.json(toPage(rows, query.limit, presentAlert));
    });
}
