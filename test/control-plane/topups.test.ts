// Top-ups through the real `stripe` package against the local fake Stripe: the Checkout Session it
// opens (amount, one invoice, metadata), the bounds, who may start one, and the full path from
// payment to credit by the signed webhook.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../shared/ids.ts';
import { walletBalanceMicros } from '../../control-plane/ledger.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';
import { FAKE_SECRET_KEY, serveWithStripe, startFakeStripe, type FakeStripe } from '../support/fake-stripe.ts';

let h: Harness;
let fake: FakeStripe;
let cp: Awaited<ReturnType<typeof serveWithStripe>>;

type Json = Record<string, unknown> & { error?: { code: string; param: string | null; message: string } };

beforeAll(async () => {
  h = await createHarness();
  fake = await startFakeStripe();
  cp = await serveWithStripe(h.testDb.db, fake);
}, 60_000);
afterAll(async () => {
  await cp?.close();
  await fake?.close();
  await h?.close();
});

async function call(method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${cp.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${options.token ?? h.ownerToken}`, 'content-type': 'application/json', ...options.headers },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  return { status: res.status, body: (await res.json()) as Json, headers: res.headers };
}

async function newOrg(): Promise<string> {
  return (await call('POST', '/v1/manage/orgs', { body: { name: 'topup org' } })).body.id as string;
}

const sessionCreates = () => fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions').length;

describe('starting a top-up', () => {
  it('opens a Checkout Session for the paid amount with one invoice, and answers the split and the URL', async () => {
    const org = await newOrg();
    const res = await call('POST', `/v1/manage/orgs/${org}/topups`, { body: { amount_usd: 100 } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ object: 'topup', org_id: org, status: 'open', amount_usd: 100, credit_usd: 95.238095, fee_usd: 4.761905, amount_micros: 100_000_000, credit_micros: 95_238_095, fee_micros: 4_761_905 });
    const session = fake.sessions.get(res.body.checkout_session_id as string)!;
    expect(res.body.checkout_url).toBe(session.url);
    // What the stripe package sent, as Stripe would read it.
    const sent = fake.requests.find((r) => r.path === '/v1/checkout/sessions' && r.method === 'POST' && (r.body.client_reference_id as string) === res.body.id)!;
    expect(sent.authorization).toBe(`Bearer ${FAKE_SECRET_KEY}`);
    expect(sent.idempotencyKey).toBe(`topup-${res.body.id}`);
    expect(sent.body).toMatchObject({
      mode: 'payment',
      metadata: { topup_id: res.body.id, org_id: org },
      invoice_creation: { enabled: 'true' },
      line_items: [{ quantity: '1', price_data: { currency: 'usd', unit_amount: '10000' } }],
    });
    expect(session).toMatchObject({ amount_total: 10_000, currency: 'usd', client_reference_id: res.body.id });
    // The session can be read back through the API in Stripe's shape.
    const read = await fetch(`${fake.url}/v1/checkout/sessions/${session.id}`, { headers: { authorization: `Bearer ${FAKE_SECRET_KEY}` } });
    expect(((await read.json()) as Json).id).toBe(session.id);
    // Nothing is credited by starting a top-up.
    expect(await walletBalanceMicros(h.testDb.db, org)).toBe(0);
    const audit = await h.testDb.db.query("SELECT count(*)::int AS n FROM audit_log WHERE action = 'topup.create' AND target_id = $1", [res.body.id]);
    expect(audit.rows[0]!.n).toBe(1);
  });

  it('accepts exactly $5 and $5,000 and refuses amounts outside them, negative, or finer than a cent, without calling Stripe', async () => {
    const org = await newOrg();
    const low = await call('POST', `/v1/manage/orgs/${org}/topups`, { body: { amount_usd: 5 } });
    expect([low.body.credit_micros, low.body.fee_micros]).toEqual([4_761_905, 238_095]);
    const high = await call('POST', `/v1/manage/orgs/${org}/topups`, { body: { amount_usd: 5000 } });
    expect([high.body.credit_micros, high.body.fee_micros]).toEqual([4_761_904_762, 238_095_238]);
    const calls = sessionCreates();
    for (const amount_usd of [4.99, 5000.01, -5, 0, 10.001, 10.0000001, 1e21, Number.MAX_SAFE_INTEGER, '100', null]) {
      const res = await call('POST', `/v1/manage/orgs/${org}/topups`, { body: { amount_usd } });
      expect([res.status, res.body.error?.code, res.body.error?.param], String(amount_usd)).toEqual([422, 'validation_failed', 'amount_usd']);
    }
    expect(sessionCreates()).toBe(calls);
    const rows = await h.testDb.db.query('SELECT count(*)::int AS n FROM topups WHERE org_id = $1', [org]);
    expect(rows.rows[0]!.n).toBe(2);
  });

  it('lets org owners and platform staff start one; org admins and users get 403, another tenant 404', async () => {
    const org = await newOrg();
    const other = await newOrg();
    const owner = await h.addUser({ orgId: org, orgRole: 'org_owner' });
    const orgAdmin = await h.addUser({ orgId: org, orgRole: 'org_admin' });
    const user = await h.addUser({ orgId: org, orgRole: 'user' });
    const body = { amount_usd: 20 };
    expect((await call('POST', `/v1/manage/orgs/${org}/topups`, { token: owner.token, body })).status).toBe(201);
    expect((await call('POST', `/v1/manage/orgs/${org}/topups`, { token: orgAdmin.token, body })).status).toBe(403);
    expect((await call('POST', `/v1/manage/orgs/${org}/topups`, { token: user.token, body })).status).toBe(403);
    expect((await call('POST', `/v1/manage/orgs/${other}/topups`, { token: owner.token, body })).status).toBe(404);
    expect((await call('GET', `/v1/manage/orgs/${org}/topups`, { token: orgAdmin.token })).status).toBe(200);
    expect((await call('GET', `/v1/manage/orgs/${org}/topups`, { token: user.token })).status).toBe(403);
  });

  it('opens one session for a request retried with the same Idempotency-Key', async () => {
    const org = await newOrg();
    const headers = { 'idempotency-key': `topup-${uuidv7()}` };
    const calls = sessionCreates();
    const first = await call('POST', `/v1/manage/orgs/${org}/topups`, { body: { amount_usd: 50 }, headers });
    const again = await call('POST', `/v1/manage/orgs/${org}/topups`, { body: { amount_usd: 50 }, headers });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(sessionCreates()).toBe(calls + 1);
  });

  it('answers 503 not_configured without a Stripe key, and 502 when Stripe cannot be reached, leaving no top-up behind', async () => {
    const org = await newOrg();
    // The harness's own app has no Stripe configured.
    const unconfigured = await h.request('POST', `/v1/manage/orgs/${org}/topups`, { token: h.ownerToken, body: { amount_usd: 10 } });
    expect(unconfigured.status).toBe(503);
    expect(((await unconfigured.json()) as Json).error?.code).toBe('not_configured');
    const gone = await startFakeStripe();
    const unreachable = await serveWithStripe(h.testDb.db, gone);
    await gone.close();
    try {
      const res = await fetch(`${unreachable.url}/v1/manage/orgs/${org}/topups`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.ownerToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ amount_usd: 10 }),
      });
      expect(res.status).toBe(502);
      expect(((await res.json()) as Json).error?.code).toBe('upstream_failed');
    } finally {
      await unreachable.close();
    }
    const rows = await h.testDb.db.query('SELECT count(*)::int AS n FROM topups WHERE org_id = $1', [org]);
    expect(rows.rows[0]!.n).toBe(0);
  }, 30_000);
});

describe('paying a top-up', () => {
  it('credits the wallet only when the signed webhook confirms payment, then lists the top-up as credited', async () => {
    const org = await newOrg();
    const topup = (await call('POST', `/v1/manage/orgs/${org}/topups`, { body: { amount_usd: 100 } })).body;
    const session = fake.pay(topup.checkout_session_id as string);
    expect(await walletBalanceMicros(h.testDb.db, org)).toBe(0);
    const delivered = await fake.deliver(cp.webhookUrl, fake.event('checkout.session.completed', session));
    expect(delivered.status).toBe(200);
    expect(await delivered.json()).toEqual({ received: true, outcome: 'credited' });
    const wallet = await call('GET', `/v1/manage/orgs/${org}/wallet`);
    expect([wallet.body.balance_usd, wallet.body.balance_micros]).toEqual([95.238095, 95_238_095]);
    const listed = await call('GET', `/v1/manage/orgs/${org}/topups`);
    expect((listed.body.data as Json[])[0]).toMatchObject({ id: topup.id, status: 'credited', checkout_url: null, transaction_id: expect.any(String) });
    const entries = await call('GET', `/v1/manage/orgs/${org}/wallet/entries`);
    expect((entries.body.data as Json[]).map((e) => [e.kind, e.amount_micros, e.ref, e.actor])).toEqual([['topup', 95_238_095, session.id, expect.stringMatching(/^stripe:evt_/)]]);
  });
});
