// The wallet API: balance and threshold, entries, alerts, and refunds/adjustments by platform staff
// only, each with exactly one audit row; bad amounts refused with the ledger untouched.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../shared/ids.ts';
import { postUsageDebits } from '../../control-plane/ledger.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';

let h: Harness;

type Json = Record<string, unknown> & { error?: { code: string; param: string | null; message: string } };

beforeAll(async () => {
  h = await createHarness();
}, 60_000);
afterAll(() => h?.close());

async function call(method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await h.request(method, path, { token: options.token ?? h.ownerToken, ...(options.body === undefined ? {} : { body: options.body }), ...(options.headers ? { headers: options.headers } : {}) });
  return { status: res.status, body: (await res.json()) as Json, headers: res.headers };
}

async function newOrg(): Promise<string> {
  return (await call('POST', '/v1/manage/orgs', { body: { name: 'wallet org' } })).body.id as string;
}

const auditCount = async (action: string) => Number((await h.testDb.db.query('SELECT count(*) AS n FROM audit_log WHERE action = $1', [action])).rows[0]!.n);
const ledgerRows = async () => Number((await h.testDb.db.query('SELECT count(*) AS n FROM ledger_entries')).rows[0]!.n);

describe('wallet', () => {
  it('answers a new org its $0 wallet with the default $10 threshold', async () => {
    const org = await newOrg();
    const wallet = await call('GET', `/v1/manage/orgs/${org}/wallet`);
    expect(wallet.status).toBe(200);
    expect(wallet.body).toEqual({
      object: 'wallet',
      org_id: org,
      currency: 'usd',
      balance_usd: 0,
      balance_micros: 0,
      low_balance_threshold_usd: 10,
      low_balance_threshold_micros: 10_000_000,
      low_balance_alerted: true,
    });
  });

  it('credits and debits by adjustment, audits each once, and lists the entries newest first with cursor pages', async () => {
    const org = await newOrg();
    const before = await auditCount('wallet.adjustment');
    const credit = await call('POST', `/v1/manage/orgs/${org}/wallet/adjustments`, { body: { amount_usd: 25.5, kind: 'adjustment', memo: 'welcome credit' } });
    expect(credit.status).toBe(201);
    expect(credit.body).toMatchObject({ object: 'ledger_transaction', kind: 'adjustment', amount_usd: 25.5, amount_micros: 25_500_000, balance_usd: 25.5, balance_micros: 25_500_000 });
    const debit = await call('POST', `/v1/manage/orgs/${org}/wallet/adjustments`, { body: { amount_usd: -0.000001, kind: 'adjustment', memo: 'rounding fix' } });
    expect(debit.body.balance_micros).toBe(25_499_999);
    const refund = await call('POST', `/v1/manage/orgs/${org}/wallet/adjustments`, { body: { amount_usd: -5, kind: 'refund', memo: 'refund of ch_123' } });
    expect(refund.status).toBe(201);
    expect(await auditCount('wallet.adjustment')).toBe(before + 2);
    const audit = await h.testDb.db.query('SELECT target_type, target_id, org_id, after FROM audit_log WHERE action = $1 AND target_id = $2', ['wallet.refund', refund.body.id]);
    expect(audit.rows).toEqual([{ target_type: 'ledger_transaction', target_id: refund.body.id, org_id: org, after: expect.objectContaining({ amount_micros: -5_000_000, memo: 'refund of ch_123' }) }]);

    const page1 = await call('GET', `/v1/manage/orgs/${org}/wallet/entries?limit=2`);
    expect((page1.body.data as Json[]).map((e) => [e.kind, e.amount_micros, e.memo])).toEqual([
      ['refund', -5_000_000, 'refund of ch_123'],
      ['adjustment', -1, 'rounding fix'],
    ]);
    const page2 = await call('GET', `/v1/manage/orgs/${org}/wallet/entries?limit=2&after=${page1.body.next_cursor}`);
    expect((page2.body.data as Json[]).map((e) => e.amount_usd)).toEqual([25.5]);
    expect(page2.body.next_cursor).toBeNull();
    expect((await call('GET', `/v1/manage/orgs/${org}/wallet`)).body.balance_micros).toBe(20_499_999);
  });

  it('refuses bad amounts with 422 naming the field, writing nothing', async () => {
    const org = await newOrg();
    const entries = await ledgerRows();
    const audits = await auditCount('wallet.adjustment');
    for (const body of [
      { amount_usd: 0, kind: 'adjustment', memo: 'zero' },
      { amount_usd: 1.0000001, kind: 'adjustment', memo: 'seven decimals' },
      { amount_usd: 1e12, kind: 'adjustment', memo: 'absurd' },
      { amount_usd: -1_000_000.000001, kind: 'adjustment', memo: 'absurd debit' },
      { amount_usd: '5', kind: 'adjustment', memo: 'string' },
      { amount_usd: 5, kind: 'refund', memo: 'a positive refund' },
      { amount_usd: 5, kind: 'gift', memo: 'unknown kind' },
      { amount_usd: 5, kind: 'adjustment', memo: '' },
      { amount_usd: 5, kind: 'adjustment', memo: 'x', extra: true },
    ]) {
      const res = await call('POST', `/v1/manage/orgs/${org}/wallet/adjustments`, { body });
      expect([res.status, res.body.error?.code], JSON.stringify(body)).toEqual([422, 'validation_failed']);
    }
    const bad = await call('POST', `/v1/manage/orgs/${org}/wallet/adjustments`, { body: { amount_usd: 1.0000001, kind: 'adjustment', memo: 'x' } });
    expect(bad.body.error?.param).toBe('amount_usd');
    expect(await ledgerRows()).toBe(entries);
    expect(await auditCount('wallet.adjustment')).toBe(audits);
  });

  it('refuses a debit below zero with 409 and no audit row', async () => {
    const org = await newOrg();
    await call('POST', `/v1/manage/orgs/${org}/wallet/adjustments`, { body: { amount_usd: 3, kind: 'adjustment', memo: 'seed' } });
    const entries = await ledgerRows();
    const audits = await auditCount('wallet.refund');
    const res = await call('POST', `/v1/manage/orgs/${org}/wallet/adjustments`, { body: { amount_usd: -3.01, kind: 'refund', memo: 'too much' } });
    expect([res.status, res.body.error?.code, res.body.error?.param]).toEqual([409, 'conflict', 'amount_usd']);
    expect(await ledgerRows()).toBe(entries);
    expect(await auditCount('wallet.refund')).toBe(audits);
  });

  it('lets only platform staff adjust: org owners get 403, other tenants 404', async () => {
    const org = await newOrg();
    const other = await newOrg();
    const owner = await h.addUser({ orgId: org, orgRole: 'org_owner' });
    const admin = await h.addUser({ platformRole: 'taas_admin' });
    const body = { amount_usd: 1, kind: 'adjustment', memo: 'x' };
    expect((await call('POST', `/v1/manage/orgs/${org}/wallet/adjustments`, { token: owner.token, body })).status).toBe(403);
    expect((await call('POST', `/v1/manage/orgs/${other}/wallet/adjustments`, { token: owner.token, body })).status).toBe(404);
    expect((await call('POST', `/v1/manage/orgs/${uuidv7()}/wallet/adjustments`, { body })).status).toBe(404);
    expect((await call('POST', `/v1/manage/orgs/${org}/wallet/adjustments`, { token: admin.token, body })).status).toBe(201);
  });

  it('replays an adjustment sent again with the same Idempotency-Key instead of posting it twice', async () => {
    const org = await newOrg();
    const headers = { 'idempotency-key': `adj-${uuidv7()}` };
    const body = { amount_usd: 7, kind: 'adjustment', memo: 'once' };
    const first = await call('POST', `/v1/manage/orgs/${org}/wallet/adjustments`, { body, headers });
    const again = await call('POST', `/v1/manage/orgs/${org}/wallet/adjustments`, { body, headers });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect((await call('GET', `/v1/manage/orgs/${org}/wallet`)).body.balance_micros).toBe(7_000_000);
  });
});

describe('low-balance threshold and alerts', () => {
  it('lets an org owner set the threshold (audited once, a no-op not at all); org admins read but may not set it', async () => {
    const org = await newOrg();
    const owner = await h.addUser({ orgId: org, orgRole: 'org_owner' });
    const orgAdmin = await h.addUser({ orgId: org, orgRole: 'org_admin' });
    const user = await h.addUser({ orgId: org, orgRole: 'user' });
    const audits = await auditCount('wallet.update');
    const set = await call('PATCH', `/v1/manage/orgs/${org}/wallet`, { token: owner.token, body: { low_balance_threshold_usd: 2.5 } });
    expect([set.status, set.body.low_balance_threshold_micros]).toEqual([200, 2_500_000]);
    expect((await call('PATCH', `/v1/manage/orgs/${org}/wallet`, { token: owner.token, body: { low_balance_threshold_usd: 2.5 } })).status).toBe(200);
    expect(await auditCount('wallet.update')).toBe(audits + 1);
    expect((await call('PATCH', `/v1/manage/orgs/${org}/wallet`, { token: orgAdmin.token, body: { low_balance_threshold_usd: 1 } })).status).toBe(403);
    expect((await call('GET', `/v1/manage/orgs/${org}/wallet`, { token: orgAdmin.token })).status).toBe(200);
    expect((await call('GET', `/v1/manage/orgs/${org}/wallet`, { token: user.token })).status).toBe(403);
    expect((await call('GET', `/v1/manage/orgs/${org}/alerts`, { token: user.token })).status).toBe(403);
    for (const bad of [-1, 1.0000001, 1_000_001, null, '3']) {
      const res = await call('PATCH', `/v1/manage/orgs/${org}/wallet`, { token: owner.token, body: { low_balance_threshold_usd: bad } });
      expect([res.status, res.body.error?.param], String(bad)).toEqual([422, 'low_balance_threshold_usd']);
    }
  });

  it('stores one alert per downward crossing, readable by the org, re-armed by a credit above the threshold', async () => {
    const org = await newOrg();
    const adjust = (amount_usd: number) => call('POST', `/v1/manage/orgs/${org}/wallet/adjustments`, { body: { amount_usd, kind: 'adjustment', memo: 'test' } });
    const spend = (micros: number) => h.testDb.db.transaction((tx) => postUsageDebits(tx, [{ org_id: org, micros }], `api-${uuidv7()}`));
    await adjust(10.5);
    expect((await call('GET', `/v1/manage/orgs/${org}/wallet`)).body.low_balance_alerted).toBe(false);
    await spend(1_000_000); // $9.50: crossing
    await spend(1_000_000); // $8.50: no new alert
    await adjust(5); // $13.50: re-armed
    await adjust(-4); // $9.50: crossing again, by an adjustment
    const alerts = await call('GET', `/v1/manage/orgs/${org}/alerts`);
    expect((alerts.body.data as Json[]).map((a) => [a.object, a.kind, a.balance_usd, a.threshold_usd])).toEqual([
      ['wallet_alert', 'low_balance', 9.5, 10],
      ['wallet_alert', 'low_balance', 9.5, 10],
    ]);
    expect((await call('GET', `/v1/manage/orgs/${org}/wallet`)).body.low_balance_alerted).toBe(true);
  });
});
