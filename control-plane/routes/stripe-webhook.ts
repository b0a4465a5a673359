// POST /v1/stripe/webhook: where top-up credit lands, and nowhere else. No management token: the
// credential is Stripe's signature over the raw body (verified by the `stripe` package, default
// 300 s tolerance). Exactly once: the event id is claimed in the same transaction as its effect,
// so a retried or replayed event changes nothing; the top-up row is locked and credited at most
// once, so completed + async_payment_succeeded for one session credit once. Money Stripe takes
// back from a credited top-up (a refund, a dispute's withdrawal) leaves the wallet the same way,
// and a won dispute's reinstatement comes back (migration 0014).

import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import type { ApiSpec } from '../api-spec.ts';
import { MICROS_PER_CENT } from '../billing/topup-amounts.ts';
import type { StripeGateway, VerifiedWebhook } from '../billing/stripe-gateway.ts';
import type { Database, Queryable } from '../db.ts';
import { creditTopup, logLowBalanceAlerts, reverseTopup, type LowBalanceAlert } from '../ledger.ts';
import type { Logger } from '../log.ts';
import type { AppEnv } from '../request-context.ts';
import {
  claimStripeEvent,
  closeTopup,
  lockTopupBySession,
  lockTopupForPayment,
  markTopupCredited,
  setStripeEventOutcome,
  setTopupTakenBack,
  type TopupRow,
} from '../sql/topups.ts';

export const stripeWebhookSpecs: ApiSpec[] = [
  { method: 'post', path: '/v1/stripe/webhook', summary: "Stripe's signed events: credits paid top-ups exactly once (Stripe-Signature, no token)", tag: 'billing', access: 'public', success: { status: 200, description: '{received: true, outcome}' } },
];

const MAX_EVENT_BYTES = 256 * 1024;

const StripeEvent = z.object({
  id: z.string().min(1).max(255),
  object: z.literal('event'),
  type: z.string().min(1).max(255),
  data: z.object({ object: z.unknown() }),
});

const CheckoutSession = z.object({
  id: z.string().min(1).max(255),
  object: z.literal('checkout.session'),
  payment_status: z.string(),
  amount_total: z.number().int().nullable(),
  currency: z.string().nullable(),
  client_reference_id: z.string().nullable().optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
  payment_intent: z.string().nullable().optional(),
});
type CheckoutSession = z.infer<typeof CheckoutSession>;

const Cents = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER / 1_000_000);

/** What a charge or dispute event says about one payment; `metadata` may name our top-up. */
const PaymentFields = {
  id: z.string().min(1).max(255),
  currency: z.string(),
  payment_intent: z.string().max(255).nullable().optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
};
const Charge = z.object({ ...PaymentFields, object: z.literal('charge'), amount_refunded: Cents });
const Dispute = z.object({ ...PaymentFields, object: z.literal('dispute'), amount: Cents });

/** Events that set how much of a payment was taken back, and how: refunded so far, or a dispute's withdrawal. */
const TAKE_BACK_EVENTS: Record<string, 'refunded' | 'dispute_withdrawn' | 'dispute_reinstated'> = {
  'charge.refunded': 'refunded',
  'charge.dispute.created': 'dispute_withdrawn',
  'charge.dispute.funds_withdrawn': 'dispute_withdrawn',
  'charge.dispute.funds_reinstated': 'dispute_reinstated',
};
/** What a charge or dispute event says: the payment it is about, and the cents it names (refunded so far, or disputed). */
type TakeBack = { kind: (typeof TAKE_BACK_EVENTS)[string]; payment: z.infer<typeof Charge> | z.infer<typeof Dispute>; cents: number };

function takeBackOf(kind: TakeBack['kind'], object: unknown): TakeBack | null {
  if (kind === 'refunded') {
    const charge = Charge.safeParse(object);
    return charge.success ? { kind, payment: charge.data, cents: charge.data.amount_refunded } : null;
  }
  const dispute = Dispute.safeParse(object);
  return dispute.success ? { kind, payment: dispute.data, cents: dispute.data.amount } : null;
}

const SESSION_EVENTS = new Set([
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'checkout.session.expired',
]);

const DENIALS: Record<Exclude<VerifiedWebhook, { ok: true }>['denial'], string> = {
  missing_signature: 'The Stripe-Signature header is missing.',
  bad_signature: 'The Stripe-Signature header does not match the body.',
  stale: "The Stripe-Signature timestamp is outside the tolerance: a replayed or delayed event is refused.",
  malformed: 'The signed body is not JSON.',
};

type Outcome =
  | 'duplicate'
  | 'credited'
  | 'already_credited'
  | 'awaiting_payment'
  | 'expired'
  | 'failed'
  | 'ignored'
  | 'reversed'
  | 'reinstated'
  | 'unchanged';

/** Why a session event cannot belong to the top-up we stored for it, or null when it does. */
function mismatch(session: CheckoutSession, topup: TopupRow): string | null {
  if (session.amount_total !== topup.paid_micros / MICROS_PER_CENT) return 'amount_total';
  if (session.currency !== topup.currency) return 'currency';
  if (session.metadata?.org_id !== topup.org_id || session.metadata?.topup_id !== topup.id) return 'metadata';
  if ((session.client_reference_id ?? null) !== topup.id) return 'client_reference_id';
  return null;
}

async function handleSessionEvent(
  tx: Queryable,
  event: { id: string; type: string },
  session: CheckoutSession,
  log: Logger,
): Promise<{ outcome: Outcome; alerts: LowBalanceAlert[] }> {
  const topup = await lockTopupBySession(tx, session.id);
  const crediting = event.type === 'checkout.session.completed' || event.type === 'checkout.session.async_payment_succeeded';
  if (!topup) {
    // Nothing of ours to close; but a payment for a session we never created is refused loudly.
    if (!crediting) return { outcome: 'ignored', alerts: [] };
    throw new ApiError('not_found', 'No top-up for this checkout session.', { param: 'data.object.id' });
  }
  const wrong = mismatch(session, topup);
  if (wrong) {
    log('error', 'stripe event does not match its top-up', { event_id: event.id, topup_id: topup.id, field: wrong });
    throw new ApiError('conflict', `The checkout session does not match its top-up (${wrong}).`, { param: `data.object.${wrong}` });
  }
  if (!crediting) {
    const closed = await closeTopup(tx, topup.id, event.type === 'checkout.session.expired' ? 'expired' : 'failed');
    return { outcome: closed ? (event.type === 'checkout.session.expired' ? 'expired' : 'failed') : 'ignored', alerts: [] };
  }
  // completed with a delayed payment method: the money is not there yet; async_payment_succeeded follows.
  if (session.payment_status !== 'paid') return { outcome: 'awaiting_payment', alerts: [] };
  if (topup.status === 'credited') return { outcome: 'already_credited', alerts: [] };
  const credited = await creditTopup(tx, {
    orgId: topup.org_id,
    sessionId: session.id,
    paidMicros: topup.paid_micros,
    creditMicros: topup.credit_micros,
    feeMicros: topup.fee_micros,
    actor: `stripe:${event.id}`,
    memo: `Top-up ${topup.id}`,
  });
  if (!credited) return { outcome: 'already_credited', alerts: [] };
  await markTopupCredited(tx, topup.id, credited.transaction.id, session.payment_intent ?? null);
  return { outcome: 'credited', alerts: credited.alerts };
}

/**
 * A refund or a dispute of a top-up's payment: the wallet follows what Stripe took back. Stripe
 * reports totals (a charge's amount_refunded is cumulative; a dispute withdraws its amount and
 * gives it back when won), so each event sets the total and posts the difference, under the
 * top-up's row lock: a replay, or an older refund event arriving after a newer one, posts nothing.
 */
async function handleTakeBack(tx: Queryable, event: { id: string; type: string }, change: TakeBack, log: Logger): Promise<{ outcome: Outcome; alerts: LowBalanceAlert[] }> {
  const { payment } = change;
  const topup = await lockTopupForPayment(tx, { paymentIntentId: payment.payment_intent ?? null, topupId: payment.metadata?.topup_id ?? null });
  // A payment that is not one of our top-ups (the Stripe account may take other payments).
  if (!topup || topup.status === 'expired' || topup.status === 'failed') return { outcome: 'ignored', alerts: [] };
  if (payment.currency !== topup.currency) {
    log('error', 'stripe event does not match its top-up', { event_id: event.id, topup_id: topup.id, field: 'currency' });
    throw new ApiError('conflict', 'The payment does not match its top-up (currency).', { param: 'data.object.currency' });
  }
  // Its credit has not landed yet (the events crossed): Stripe retries this one later.
  if (topup.status !== 'credited') throw new ApiError('conflict', 'The top-up of this payment is not credited yet; retry later.');
  let refunded = topup.refunded_micros;
  let disputed = topup.disputed_micros;
  if (change.kind === 'refunded') refunded = Math.max(refunded, change.cents * MICROS_PER_CENT);
  else disputed = change.kind === 'dispute_withdrawn' ? change.cents * MICROS_PER_CENT : 0;
  if (refunded + disputed > topup.paid_micros) {
    log('error', 'stripe took back more than the top-up paid', { event_id: event.id, topup_id: topup.id });
    throw new ApiError('conflict', 'The payment takes back more than its top-up paid.', { param: 'data.object' });
  }
  const delta = refunded + disputed - (topup.refunded_micros + topup.disputed_micros);
  await setTopupTakenBack(tx, topup.id, { refundedMicros: refunded, disputedMicros: disputed });
  if (delta === 0) return { outcome: 'unchanged', alerts: [] };
  const posted = await reverseTopup(tx, {
    orgId: topup.org_id,
    topup: { paidMicros: topup.paid_micros, creditMicros: topup.credit_micros },
    paidMicros: delta,
    ref: event.id,
    actor: `stripe:${event.id}`,
    memo: `${delta > 0 ? 'Taken back' : 'Given back'} by Stripe (${event.type}) from top-up ${topup.id}`,
  });
  return { outcome: delta > 0 ? 'reversed' : 'reinstated', alerts: posted?.alerts ?? [] };
}

export function stripeWebhookRoutes(deps: { db: Database; now: () => Date; log: Logger; stripe?: StripeGateway | null }) {
  return new Hono<AppEnv>().post(
    '/webhook',
    bodyLimit({
      maxSize: MAX_EVENT_BYTES,
      onError: () => {
        throw new ApiError('payload_too_large', `Stripe events may not exceed ${MAX_EVENT_BYTES} bytes.`);
      },
    }),
    async (c) => {
      if (!deps.stripe) throw new ApiError('not_configured', 'Stripe is not configured on this control plane (STRIPE_WEBHOOK_SECRET).');
      // The exact bytes Stripe signed: never re-serialised.
      const raw = Buffer.from(await c.req.arrayBuffer());
      const verified = deps.stripe.verifyWebhook(raw, c.req.header('stripe-signature'), deps.now());
      if (!verified.ok) throw new ApiError('invalid_request', DENIALS[verified.denial], { param: 'Stripe-Signature' });
      const parsed = StripeEvent.safeParse(verified.event);
      if (!parsed.success) throw new ApiError('invalid_request', 'The signed body is not a Stripe event.');
      const event = parsed.data;
      let session: CheckoutSession | null = null;
      if (SESSION_EVENTS.has(event.type)) {
        const object = CheckoutSession.safeParse(event.data.object);
        if (!object.success) throw new ApiError('invalid_request', `A ${event.type} event must carry a checkout session.`, { param: 'data.object' });
        session = object.data;
      }
      let takeBack: TakeBack | null = null;
      const takeBackKind = Object.hasOwn(TAKE_BACK_EVENTS, event.type) ? TAKE_BACK_EVENTS[event.type]! : null;
      if (takeBackKind) {
        takeBack = takeBackOf(takeBackKind, event.data.object);
        if (!takeBack) throw new ApiError('invalid_request', `A ${event.type} event must carry a ${takeBackKind === 'refunded' ? 'charge' : 'dispute'}.`, { param: 'data.object' });
      }
      const result = await deps.db.transaction(async (tx) => {
        if (!(await claimStripeEvent(tx, { id: event.id, type: event.type, sessionId: session?.id ?? null }))) {
          return { outcome: 'duplicate' as Outcome, alerts: [] };
        }
        const handled = session
          ? await handleSessionEvent(tx, event, session, deps.log)
          : takeBack
            ? await handleTakeBack(tx, event, takeBack, deps.log)
            : { outcome: 'ignored' as Outcome, alerts: [] };
        await setStripeEventOutcome(tx, event.id, handled.outcome);
        return handled;
      });
      deps.log('info', 'stripe event', { request_id: c.get('requestId'), event_id: event.id, type: event.type, outcome: result.outcome });
      logLowBalanceAlerts(deps.log, result.alerts);
      return c.json({ received: true, outcome: result.outcome });
    },
  );
}
