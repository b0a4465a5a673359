// The Stripe webhook: credit lands exactly once per event and at most once per session, only for a
// paid session matching the top-up we created, and forged, stale, tampered or unknown deliveries are
// refused with the ledger untouched.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creditAdjustment, walletBalanceMicros } from '../../control-plane/ledger.ts';
import type { LogFields } from '../../control-plane/log.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';
import { serveWithStripe, startFakeStripe, type FakeSession, type FakeStripe } from '../support/fake-stripe.ts';

let h: Harness;
let fake: FakeStripe;
let cp: Awaited<ReturnType<typeof serveWithStripe>>;
const logs: { level: string; msg: string; fields: LogFields | undefined }[] = [];

type Json = Record<string, unknown> & { error?: { code: string; param: string | null; message: string } };

beforeAll(async () => {
  h = await createHarness();
  fake = await startFakeStripe();
  cp = await serveWithStripe(h.testDb.db, fake, { log: (level, msg, fields) => logs.push({ level, msg, fields }) });
}, 60_000);
afterAll(async () => {
  await cp?.close();
  await fake?.close();
  await h?.close();
});

async function newTopup(amount_usd = 100): Promise<{ org: string; topupId: string; session: FakeSession }> {
  const post = (path: string, body: unknown) =>
    fetch(`${cp.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${h.ownerToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const org = ((await (await post('/v1/manage/orgs', { name: 'webhook org' })).json()) as { id: string }).id;
  const topup = (await (await post(`/v1/manage/orgs/${org}/topups`, { amount_usd })).json()) as { id: string; checkout_session_id: string };
  return { org, topupId: topup.id, session: fake.sessions.get(topup.checkout_session_id)! };
}

/** Everything a refused delivery must leave as it was. */
async function books(): Promise<Record<string, unknown>> {
  const { rows } = await h.testDb.db.query(
    `SELECT (SELECT count(*) FROM ledger_entries)::int AS entries, (SELECT count(*) FROM stripe_events)::int AS events,
            (SELECT string_agg(id || '=' || balance_micros, ',' ORDER BY id) FROM ledger_accounts) AS balances,
            (SELECT string_agg(id || ':' || status, ',' ORDER BY id) FROM topups) AS topups`,
  );
  return rows[0]!;
}

async function deliver(event: unknown, options?: Parameters<FakeStripe['deliver']>[2]): Promise<{ status: number; body: Json }> {
  const res = await fake.deliver(cp.webhookUrl, event, options);
  return { status: res.status, body: (await res.json()) as Json };
}

const topupTransactions = async (sessionId: string) => Number((await h.testDb.db.query("SELECT count(*) AS n FROM ledger_transactions WHERE kind = 'topup' AND ref = $1", [sessionId])).rows[0]!.n);

describe('exactly once', () => {
  it('credits once when Stripe retries the same event, including two deliveries at the same moment', async () => {
    const { org, session } = await newTopup(100);
    const event = fake.event('checkout.session.completed', fake.pay(session.id));
    const together = await Promise.all([deliver(event), deliver(event), deliver(event)]);
    expect(together.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(together.map((r) => r.body.outcome).sort()).toEqual(['credited', 'duplicate', 'duplicate']);
    const later = await deliver(event);
    expect(later.body).toEqual({ received: true, outcome: 'duplicate' });
    expect(await walletBalanceMicros(h.testDb.db, org)).toBe(95_238_095);
    expect(await topupTransactions(session.id)).toBe(1);
  });

  it('credits a session once when both completed and async_payment_succeeded arrive, in either order', async () => {
    for (const order of [
      ['checkout.session.completed', 'checkout.session.async_payment_succeeded'],
      ['checkout.session.async_payment_succeeded', 'checkout.session.completed'],
    ]) {
      const { org, session } = await newTopup(5);
      const paid = fake.pay(session.id);
      const first = await deliver(fake.event(order[0]!, paid));
      const second = await deliver(fake.event(order[1]!, paid));
      expect([first.body.outcome, second.body.outcome]).toEqual(['credited', 'already_credited']);
      expect(await walletBalanceMicros(h.testDb.db, org)).toBe(4_761_905);
      expect(await topupTransactions(session.id)).toBe(1);
    }
  });

  it('credits a session once when its two crediting events arrive at the same moment', async () => {
    const { org, session } = await newTopup(20);
    const paid = fake.pay(session.id);
    const both = await Promise.all([deliver(fake.event('checkout.session.completed', paid)), deliver(fake.event('checkout.session.async_payment_succeeded', paid))]);
    expect(both.map((r) => r.body.outcome).sort()).toEqual(['already_credited', 'credited']);
    expect(await walletBalanceMicros(h.testDb.db, org)).toBe(19_047_619);
    expect(await topupTransactions(session.id)).toBe(1);
  });

  it('waits for a delayed payment: completed-but-unpaid credits nothing, async_payment_succeeded credits', async () => {
    const { org, session } = await newTopup(5000);
    const pending = await deliver(fake.event('checkout.session.completed', fake.pay(session.id, { delayed: true })));
    expect(pending.body.outcome).toBe('awaiting_payment');
    expect(await walletBalanceMicros(h.testDb.db, org)).toBe(0);
    const succeeded = await deliver(fake.event('checkout.session.async_payment_succeeded', fake.pay(session.id)));
    expect(succeeded.body.outcome).toBe('credited');
    expect(await walletBalanceMicros(h.testDb.db, org)).toBe(4_761_904_762);
  });

  it('closes a top-up whose session expired or whose payment failed, crediting nothing', async () => {
    const expired = await newTopup(10);
    expect((await deliver(fake.event('checkout.session.expired', { ...expired.session, status: 'expired' }))).body.outcome).toBe('expired');
    const failed = await newTopup(10);
    expect((await deliver(fake.event('checkout.session.async_payment_failed', fake.pay(failed.session.id, { delayed: true })))).body.outcome).toBe('failed');
    const statuses = await h.testDb.db.query('SELECT id, status FROM topups WHERE id = ANY($1::uuid[]) ORDER BY id', [[expired.topupId, failed.topupId]]);
    expect(statuses.rows.map((r) => r.status)).toEqual(['expired', 'failed']);
    expect(await walletBalanceMicros(h.testDb.db, expired.org)).toBe(0);
    expect(await walletBalanceMicros(h.testDb.db, failed.org)).toBe(0);
  });

  it('acknowledges event types it does not act on, once', async () => {
    const event = { id: 'evt_test_other_1', object: 'event', type: 'invoice.paid', data: { object: { id: 'in_1', object: 'invoice' } } };
    expect((await deliver(event)).body).toEqual({ received: true, outcome: 'ignored' });
    expect((await deliver(event)).body).toEqual({ received: true, outcome: 'duplicate' });
  });
});

describe('money Stripe takes back', () => {
  const balance = async (account: string) => Number((await h.testDb.db.query('SELECT balance_micros::text AS b FROM ledger_accounts WHERE id = $1', [account])).rows[0]!.b);

  async function credited(amountUsd: number) {
    const t = await newTopup(amountUsd);
    const paid = fake.pay(t.session.id);
    expect((await deliver(fake.event('checkout.session.completed', paid))).body.outcome).toBe('credited');
    return { ...t, paid };
  }

  it('takes a refund out of the wallet and the fees in proportion, each cumulative step once, even replayed or late', async () => {
    const { org, paid } = await credited(100); // wallet +95.238095, fees +4.761905
    const feesBefore = await balance('platform:fees');
    // $40 refunded, then $100 in all: Stripe's amount_refunded is the charge's total so far.
    const partial = fake.event('charge.refunded', fake.charge(paid, 4_000));
    expect((await deliver(partial)).body.outcome).toBe('reversed');
    expect(await walletBalanceMicros(h.testDb.db, org)).toBe(95_238_095 - 38_095_238);
    const full = fake.event('charge.refunded', fake.charge(paid, 10_000));
    expect((await deliver(full)).body.outcome).toBe('reversed');
    expect(await walletBalanceMicros(h.testDb.db, org)).toBe(0);
    expect(await balance('platform:fees')).toBe(feesBefore - 4_761_905);
    // A replay, and the $40 event delivered again late under a new id, move nothing.
    expect((await deliver(full)).body.outcome).toBe('duplicate');
    expect((await deliver(fake.event('charge.refunded', fake.charge(paid, 4_000)))).body.outcome).toBe('unchanged');
    expect(await walletBalanceMicros(h.testDb.db, org)).toBe(0);
    const listed = (await (await fetch(`${cp.url}/v1/manage/orgs/${org}/topups`, { headers: { authorization: `Bearer ${h.ownerToken}` } })).json()) as { data: { refunded_usd: number }[] };
    expect(listed.data[0]!.refunded_usd).toBe(100);
  });

  it('takes a disputed amount back while its funds are withdrawn, gives it back when the dispute is won, and lets the wallet go below zero', async () => {
    const { org, paid } = await credited(50); // wallet +47.619048
    // The credit is spent meanwhile: the money is gone from Stripe all the same.
    await h.testDb.db.transaction((tx) => creditAdjustment(tx, { orgId: org, micros: -40_000_000, actor: 'system', memo: 'spent' }));
    const dispute = fake.dispute(paid, 5_000);
    expect((await deliver(fake.event('charge.dispute.created', dispute))).body.outcome).toBe('reversed');
    expect(await walletBalanceMicros(h.testDb.db, org)).toBe(7_619_048 - 47_619_048);
    // funds_withdrawn for the same dispute changes nothing more.
    expect((await deliver(fake.event('charge.dispute.funds_withdrawn', dispute))).body.outcome).toBe('unchanged');
    expect((await deliver(fake.event('charge.dispute.funds_reinstated', { ...dispute, status: 'won' }))).body.outcome).toBe('reinstated');
    expect(await walletBalanceMicros(h.testDb.db, org)).toBe(7_619_048);
  });

  it("ignores refunds of payments that are not our top-ups, and has a refund that crossed its top-up's credit retried", async () => {
    const stranger = { id: 'ch_stranger', object: 'charge', amount: 500, amount_refunded: 500, currency: 'usd', payment_intent: 'pi_stranger' };
    expect((await deliver(fake.event('charge.refunded', stranger))).body.outcome).toBe('ignored');
    const { session } = await newTopup(20);
    const unpaid = { ...fake.charge({ ...session, payment_intent: 'pi_not_stored' }, 2_000), metadata: { topup_id: session.metadata.topup_id! } };
    const before = await books();
    const crossed = await deliver(fake.event('charge.refunded', unpaid));
    expect([crossed.status, crossed.body.error?.code]).toEqual([409, 'conflict']);
    expect(await books()).toEqual(before);
  });

  it('refuses a charge event without a charge, and takes back no more than was paid', async () => {
    const { org, paid } = await credited(10);
    expect((await deliver(fake.event('charge.refunded', { id: 'x', object: 'invoice' }))).status).toBe(400);
    const tooMuch = await deliver(fake.event('charge.refunded', fake.charge(paid, 1_001)));
    expect([tooMuch.status, tooMuch.body.error?.code]).toEqual([409, 'conflict']);
    expect(await walletBalanceMicros(h.testDb.db, org)).toBe(9_523_810);
  });
});

describe('refused deliveries leave the ledger untouched', () => {
  it('refuses a forged signature, a tampered body, a stale or missing signature', async () => {
    const { org, session } = await newTopup(100);
    const event = fake.event('checkout.session.completed', fake.pay(session.id));
    const payload = JSON.stringify(event, null, 2);
    const before = await books();
    const now = Math.floor(Date.now() / 1000);
    const tampered = payload.replace('"amount_total": 10000', '"amount_total": 10001');
    expect(tampered).not.toBe(payload);
    const cases: [string, Parameters<FakeStripe['deliver']>[2]][] = [
      ['signed with another secret', { secret: 'whsec_attacker' }],
      ['body changed after signing', { body: tampered, signature: fake.sign(payload) }],
      ['signature of another timestamp', { signature: fake.sign(payload, { timestamp: now - 10 }).replace(/^t=\d+/, `t=${now}`) }],
      ['stale: signed 6 minutes ago', { timestamp: now - 360 }],
      ['no signature', { signature: null }],
      ['garbage signature', { signature: 'v1=deadbeef' }],
    ];
    for (const [what, options] of cases) {
      const res = await deliver(event, options);
      expect([res.status, res.body.error?.code, res.body.error?.param], what).toEqual([400, 'invalid_request', 'Stripe-Signature']);
    }
    expect((await deliver(event, { timestamp: now - 360 })).body.error?.message).toMatch(/tolerance/);
    expect(await books()).toEqual(before);
    expect(await walletBalanceMicros(h.testDb.db, org)).toBe(0);
    // The genuine delivery still credits afterwards: a refusal claims nothing.
    expect((await deliver(event)).body.outcome).toBe('credited');
  });

  it('refuses a paid session we never created, and one that does not match its top-up', async () => {
    const { org, session } = await newTopup(100);
    const paid = fake.pay(session.id);
    const before = await books();
    const unknown = await deliver(fake.event('checkout.session.completed', { ...paid, id: 'cs_test_unknown' }));
    expect([unknown.status, unknown.body.error?.code]).toEqual([404, 'not_found']);
    const mismatches: [string, Partial<FakeSession>][] = [
      ['amount_total', { amount_total: 1_000_000 }],
      ['currency', { currency: 'eur' }],
      ['metadata', { metadata: { ...paid.metadata, org_id: '00000000-0000-7000-8000-000000000000' } }],
      ['client_reference_id', { client_reference_id: '00000000-0000-7000-8000-000000000000' }],
    ];
    for (const [field, change] of mismatches) {
      const res = await deliver(fake.event('checkout.session.completed', { ...paid, ...change }));
      expect([res.status, res.body.error?.code, res.body.error?.param], field).toEqual([409, 'conflict', `data.object.${field}`]);
    }
    expect(logs.filter((l) => l.msg === 'stripe event does not match its top-up').map((l) => l.fields?.field)).toEqual(expect.arrayContaining(['amount_total', 'currency', 'metadata', 'client_reference_id']));
    expect(await books()).toEqual(before);
    expect(await walletBalanceMicros(h.testDb.db, org)).toBe(0);
  });

  it('refuses a signed body that is not a Stripe event, or a session event without a session', async () => {
    const before = await books();
    const notJson = await fetch(cp.webhookUrl, { method: 'POST', headers: { 'stripe-signature': fake.sign('not json') }, body: 'not json' });
    expect(notJson.status).toBe(400);
    expect((await deliver({ hello: 'world' })).status).toBe(400);
    expect((await deliver({ id: 'evt_x', object: 'event', type: 'checkout.session.completed', data: { object: { id: 'in_1', object: 'invoice' } } })).status).toBe(400);
    expect(await books()).toEqual(before);
  });

  it('logs each event by id, type and outcome only', async () => {
    const line = logs.find((l) => l.msg === 'stripe event' && l.fields?.outcome === 'credited')!;
    expect(Object.keys(line.fields!).sort()).toEqual(['event_id', 'outcome', 'request_id', 'type']);
  });
});
