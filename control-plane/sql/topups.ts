// Queries on top-ups (our row per Stripe Checkout Session) and on the Stripe events already
// handled. Money columns travel as text and become numbers here.

import { isUuid } from '../../shared/ids.ts';
import type { Queryable } from '../db.ts';

export type TopupStatus = 'open' | 'credited' | 'expired' | 'failed';

export interface TopupRow {
  id: string;
  org_id: string;
  paid_micros: number;
  credit_micros: number;
  fee_micros: number;
  currency: 'usd';
  checkout_session_id: string;
  checkout_url: string | null;
  status: TopupStatus;
  created_by: string | null;
  created_at: Date;
  closed_at: Date | null;
  transaction_id: string | null;
  payment_intent_id: string | null;
  /** Of what was paid: taken back by refunds (cumulative) and by disputes whose funds are withdrawn. */
  refunded_micros: number;
  disputed_micros: number;
}

type Money = 'paid_micros' | 'credit_micros' | 'fee_micros' | 'refunded_micros' | 'disputed_micros';
type RawTopupRow = Omit<TopupRow, Money> & Record<Money, string>;

const COLUMNS = `id, org_id, paid_micros::text AS paid_micros, credit_micros::text AS credit_micros, fee_micros::text AS fee_micros, currency,
                 checkout_session_id, checkout_url, status, created_by, created_at, closed_at, transaction_id, payment_intent_id,
                 refunded_micros::text AS refunded_micros, disputed_micros::text AS disputed_micros`;

const toTopup = (r: RawTopupRow): TopupRow => ({
  ...r,
  paid_micros: Number(r.paid_micros),
  credit_micros: Number(r.credit_micros),
  fee_micros: Number(r.fee_micros),
  refunded_micros: Number(r.refunded_micros),
  disputed_micros: Number(r.disputed_micros),
});

export async function insertTopup(
  db: Queryable,
  t: { id: string; orgId: string; paidMicros: number; creditMicros: number; feeMicros: number; sessionId: string; url: string; createdBy: string | null },
): Promise<TopupRow> {
  const { rows } = await db.query<RawTopupRow>(
    `INSERT INTO topups (id, org_id, paid_micros, credit_micros, fee_micros, checkout_session_id, checkout_url, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
    [t.id, t.orgId, t.paidMicros, t.creditMicros, t.feeMicros, t.sessionId, t.url, t.createdBy],
  );
  return toTopup(rows[0]!);
}

/** The top-up of a Checkout Session, row-locked: events for one session are handled one at a time. */
export async function lockTopupBySession(db: Queryable, sessionId: string): Promise<TopupRow | null> {
  const { rows } = await db.query<RawTopupRow>(`SELECT ${COLUMNS} FROM topups WHERE checkout_session_id = $1 FOR UPDATE`, [sessionId]);
  return rows[0] ? toTopup(rows[0]) : null;
}

/** `paymentIntentId`: what charges and disputes of this payment name (stripe-webhook.ts finds the top-up by it). */
export async function markTopupCredited(db: Queryable, id: string, transactionId: string, paymentIntentId: string | null): Promise<void> {
  await db.query(`UPDATE topups SET status = 'credited', transaction_id = $2, closed_at = now(), payment_intent_id = $3 WHERE id = $1`, [
    id,
    transactionId,
    paymentIntentId,
  ]);
}

/** The top-up a charge or dispute belongs to, row-locked: by its PaymentIntent, or by our top-up id in its metadata. */
export async function lockTopupForPayment(db: Queryable, p: { paymentIntentId: string | null; topupId: string | null }): Promise<TopupRow | null> {
  const { rows } = await db.query<RawTopupRow>(
    `SELECT ${COLUMNS} FROM topups WHERE payment_intent_id = $1 OR id = $2::uuid ORDER BY id LIMIT 1 FOR UPDATE`,
    [p.paymentIntentId, p.topupId !== null && isUuid(p.topupId) ? p.topupId : null],
  );
  return rows[0] ? toTopup(rows[0]) : null;
}

export async function setTopupTakenBack(db: Queryable, id: string, taken: { refundedMicros: number; disputedMicros: number }): Promise<void> {
  await db.query('UPDATE topups SET refunded_micros = $2, disputed_micros = $3 WHERE id = $1', [id, taken.refundedMicros, taken.disputedMicros]);
}

/** An open top-up whose session expired or whose payment failed; anything else stays as it is. */
export async function closeTopup(db: Queryable, id: string, status: 'expired' | 'failed'): Promise<boolean> {
  const { rowCount } = await db.query(`UPDATE topups SET status = $2, closed_at = now() WHERE id = $1 AND status = 'open'`, [id, status]);
  return rowCount === 1;
}

/** Newest first; `before` is the id of the last top-up of the previous page. */
export async function listTopups(db: Queryable, filter: { orgId: string; before: string | null; limit: number }): Promise<TopupRow[]> {
  const { rows } = await db.query<RawTopupRow>(
    `SELECT ${COLUMNS} FROM topups WHERE org_id = $1 AND ($2::uuid IS NULL OR id < $2::uuid) ORDER BY id DESC LIMIT $3`,
    [filter.orgId, filter.before, filter.limit],
  );
  return rows.map(toTopup);
}

/** Claims a Stripe event id for this transaction; false when it was already handled (a retry or a replay). */
export async function claimStripeEvent(db: Queryable, e: { id: string; type: string; sessionId: string | null }): Promise<boolean> {
  const { rowCount } = await db.query('INSERT INTO stripe_events (id, type, checkout_session_id) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING', [e.id, e.type, e.sessionId]);
  return rowCount === 1;
}

export async function setStripeEventOutcome(db: Queryable, id: string, outcome: string): Promise<void> {
  await db.query('UPDATE stripe_events SET outcome = $2 WHERE id = $1', [id, outcome]);
}
