// /v1/manage/orgs/:id/topups: prepaid top-ups through Stripe Checkout (org owners start them; org
// owners and admins list them). Creating one opens a Checkout Session and answers its URL; the
// credit lands only when Stripe's signed webhook confirms payment (routes/stripe-webhook.ts).

import { Hono } from 'hono';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import { uuidv7 } from '../../shared/ids.ts';
import { microsToUsd } from '../../shared/money.ts';
import type { ApiSpec } from '../api-spec.ts';
import { writeAudit } from '../audit.ts';
import type { StripeGateway } from '../billing/stripe-gateway.ts';
import { checkTopupAmount, type TopupSplit } from '../billing/topup-amounts.ts';
import { requireWallet } from '../billing/wallet-access.ts';
import type { Database } from '../db.ts';
import type { Logger } from '../log.ts';
import { PageQuery, toPage } from '../pagination.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { findOrg } from '../sql/orgs.ts';
import { insertTopup, listTopups, type TopupRow } from '../sql/topups.ts';
import { UsdAmount } from '../usd-amount.ts';
import { parseJsonBody, parseQuery, pathUuid } from '../validation.ts';

const AMOUNT_DENIALS = {
  below_minimum: 'must be at least 5 (USD)',
  above_maximum: 'must be at most 5000 (USD)',
  fractional_cents: 'must be whole cents (at most 2 decimals)',
} as const;

/** What the customer pays, $5 to $5,000 in whole cents; parsed into the paid/credit/fee split. */
const TopupAmount = UsdAmount.transform((micros, ctx): TopupSplit => {
  const checked = checkTopupAmount(micros);
  if (!checked.ok) {
    ctx.addIssue({ code: 'custom', message: AMOUNT_DENIALS[checked.denial] });
    return z.NEVER;
  }
  return checked.split;
});

export const CreateTopup = z.strictObject({ amount_usd: TopupAmount });

export const topupSpecs: ApiSpec[] = [
  { method: 'post', path: '/v1/manage/orgs/:id/topups', summary: 'Start a top-up: a Stripe Checkout Session for $5–$5,000 (5% fee; org owners)', tag: 'billing', access: 'admin', body: CreateTopup, success: { status: 201, description: 'The top-up with its checkout_url' } },
  { method: 'get', path: '/v1/manage/orgs/:id/topups', summary: "List the org's top-ups, newest first (org owners and admins)", tag: 'billing', access: 'admin', query: PageQuery, success: { status: 200, description: 'A page of top-ups' } },
];

function present(t: TopupRow) {
  return {
    object: 'topup' as const,
    id: t.id,
    org_id: t.org_id,
    status: t.status,
    currency: t.currency,
    amount_usd: microsToUsd(t.paid_micros),
    credit_usd: microsToUsd(t.credit_micros),
    fee_usd: microsToUsd(t.fee_micros),
    amount_micros: t.paid_micros,
    credit_micros: t.credit_micros,
    fee_micros: t.fee_micros,
    /** Of the amount paid, what Stripe took back: refunds, and disputes whose funds are withdrawn. */
    refunded_usd: microsToUsd(t.refunded_micros),
    disputed_usd: microsToUsd(t.disputed_micros),
    checkout_session_id: t.checkout_session_id,
    checkout_url: t.status === 'open' ? t.checkout_url : null,
    transaction_id: t.transaction_id,
    created_at: t.created_at.toISOString(),
    closed_at: t.closed_at?.toISOString() ?? null,
  };
}

export function topupRoutes(deps: { db: Database; now: () => Date; log: Logger; stripe?: StripeGateway | null }) {
  return new Hono<AppEnv>()
    .post('/:id/topups', async (c) => {
      const body = await parseJsonBody(c, CreateTopup);
      const orgId = pathUuid(c, 'id', 'org');
      requireWallet(c.get('principal'), orgId, 'topup');
      if (!(await findOrg(deps.db, orgId))) throw new ApiError('not_found', 'No such org.');
      if (!deps.stripe) throw new ApiError('not_configured', 'Top-ups are not configured on this control plane (STRIPE_SECRET_KEY).');
      const id = uuidv7(deps.now().getTime());
      const split = body.amount_usd;
      // Stripe first, then our row: a session whose row never commits is never shown to anyone
      // and expires unpaid; its webhook finds no top-up and credits nothing.
      const created = await deps.stripe.createCheckoutSession({ topupId: id, orgId, split });
      if (!created.ok) {
        deps.log('error', 'stripe checkout session failed', { request_id: c.get('requestId'), topup_id: id, failure: created.failure, detail: created.detail });
        throw new ApiError('upstream_failed', 'Stripe did not open a checkout session; nothing was charged. Try again.');
      }
      const actor = actorOf(c);
      const topup = await deps.db.transaction(async (tx) => {
        const row = await insertTopup(tx, { id, orgId, ...split, sessionId: created.session.id, url: created.session.url, createdBy: actor.userId });
        await writeAudit(tx, actor, { action: 'topup.create', targetType: 'topup', targetId: id, orgId, after: present(row) });
        return row;
      });
      return c.json(present(topup), 201);
    })
    .get('/:id/topups', async (c) => {
      const query = parseQuery(c, PageQuery);
      const orgId = pathUuid(c, 'id', 'org');
      requireWallet(c.get('principal'), orgId, 'read');
      if (!(await findOrg(deps.db, orgId))) throw new ApiError('not_found', 'No such org.');
      const rows = await listTopups(deps.db, { orgId, before: query.after ?? null, limit: query.limit + 1 });
      return c.json(toPage(rows, query.limit, present));
    });
}
