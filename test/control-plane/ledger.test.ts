// The wallet ledger on a real database: balanced, append-only, balances equal to the sum of their
// entries, idempotent postings, the low-balance alert once per crossing, and the fee arithmetic.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../shared/ids.ts';
import { checkTopupAmount, splitTopup } from '../../control-plane/billing/topup-amounts.ts';
import type { Database } from '../../control-plane/db.ts';
import { openDatabase } from '../../control-plane/db.ts';
import {
  creditAdjustment,
  creditTopup,
  logLowBalanceAlerts,
  PLATFORM_ACCOUNTS,
  postUsageDebits,
  setLowBalanceThreshold,
  walletAccountId,
  walletBalanceMicros,
} from '../../control-plane/ledger.ts';
import type { LogFields } from '../../control-plane/log.ts';
import { insertOrg } from '../../control-plane/sql/orgs.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';

let testDb: TestDatabase;
let db: Database;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = testDb.db;
}, 60_000);
afterAll(() => testDb?.drop());

async function newOrg(): Promise<string> {
  return (await insertOrg(db, { id: uuidv7(), name: 'ledger test' })).id;
}

const USD = 1_000_000;

async function fund(orgId: string, micros: number) {
  return db.transaction((tx) => creditAdjustment(tx, { orgId, micros, actor: 'system', memo: 'test funding' }));
}

/** Every account whose balance differs from the sum of its entries (none, if the books are straight). */
async function driftedAccounts(): Promise<unknown[]> {
  const { rows } = await db.query(
    `SELECT a.id, a.balance_micros::text AS balance, coalesce(sum(e.amount_micros), 0)::text AS entries
       FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id
      GROUP BY a.id, a.balance_micros HAVING a.balance_micros <> coalesce(sum(e.amount_micros), 0)`,
  );
  return rows;
}

async function ledgerCounts(): Promise<{ transactions: number; entries: number; total: string }> {
  const { rows } = await db.query(
    `SELECT (SELECT count(*) FROM ledger_transactions)::int AS transactions, (SELECT count(*) FROM ledger_entries)::int AS entries,
            (SELECT coalesce(sum(balance_micros), 0)::text FROM ledger_accounts) AS total`,
  );
  return rows[0] as { transactions: number; entries: number; total: string };
}

describe('top-up fee arithmetic', () => {
  it('credits paid / 1.05 rounded half up to the µUSD, and the fee is exactly the rest', () => {
    expect(splitTopup(100 * USD)).toEqual({ paidMicros: 100_000_000, creditMicros: 95_238_095, feeMicros: 4_761_905 });
    expect(splitTopup(5 * USD)).toEqual({ paidMicros: 5_000_000, creditMicros: 4_761_905, feeMicros: 238_095 });
    expect(splitTopup(5000 * USD)).toEqual({ paidMicros: 5_000_000_000, creditMicros: 4_761_904_762, feeMicros: 238_095_238 });
    // Nearest µUSD: 52 → 49.52 → 50 (up), 54 → 51.43 → 51 (down), 21 → 20 exactly. An exact half
    // never occurs (paid × 200 = 105 × odd has no integer solution), so half-up is the rule on paper only.
    expect(splitTopup(52).creditMicros).toBe(50);
    expect(splitTopup(54).creditMicros).toBe(51);
    expect(splitTopup(21).creditMicros).toBe(20);
  });

  it('holds credit + fee = paid and |credit − paid/1.05| ≤ ½ µUSD for every whole-cent amount from $5 to $5,000', () => {
    const wrong: number[] = [];
    for (let cents = 500; cents <= 500_000; cents++) {
      const paid = cents * 10_000;
      const { creditMicros, feeMicros } = splitTopup(paid);
      // |credit × 105 − paid × 100| ≤ 52.5 is |credit − paid / 1.05| ≤ ½ µUSD, in integers.
      if (creditMicros + feeMicros !== paid || Math.abs(creditMicros * 105 - paid * 100) * 2 > 105) wrong.push(cents);
    }
    expect(wrong).toEqual([]);
  });

  it('accepts $5 and $5,000 and refuses what lies outside or is not whole cents', () => {
    expect(checkTopupAmount(5 * USD).ok).toBe(true);
    expect(checkTopupAmount(5000 * USD).ok).toBe(true);
    expect(checkTopupAmount(5 * USD - 10_000)).toEqual({ ok: false, denial: 'below_minimum' });
    expect(checkTopupAmount(5000 * USD + 10_000)).toEqual({ ok: false, denial: 'above_maximum' });
    expect(checkTopupAmount(10 * USD + 1_000)).toEqual({ ok: false, denial: 'fractional_cents' });
  });
});

describe('the ledger', () => {
  it('opens a $0 wallet for every new org', async () => {
    const org = await newOrg();
    expect(await walletBalanceMicros(db, org)).toBe(0);
    const { rows } = await db.query('SELECT kind, org_id FROM ledger_accounts WHERE id = $1', [walletAccountId(org)]);
    expect(rows).toEqual([{ kind: 'wallet', org_id: org }]);
  });

  it('keeps every balance equal to the sum of its entries, and the books at zero, after a mix of postings', async () => {
    const [a, b, c] = [await newOrg(), await newOrg(), await newOrg()];
    await fund(a, 50 * USD);
    await fund(b, 20 * USD);
    await db.transaction((tx) => creditTopup(tx, { orgId: c, sessionId: `cs_mix_${uuidv7()}`, ...splitTopup(100 * USD), actor: 'stripe:evt_mix', memo: 'mix' }));
    await db.transaction((tx) => postUsageDebits(tx, [{ org_id: a, micros: 1_234_567 }, { org_id: b, micros: 3 }, { org_id: c, micros: 0 }], `batch-${uuidv7()}`));
    await db.transaction((tx) => postUsageDebits(tx, [{ org_id: a, micros: 10 }, { org_id: a, micros: 20 }, { org_id: c, micros: 95_000_000 }], `batch-${uuidv7()}`));
    await db.transaction((tx) => creditAdjustment(tx, { orgId: b, micros: -5 * USD, kind: 'refund', actor: 'system', memo: 'refund' }));
    await db.transaction((tx) => creditAdjustment(tx, { orgId: a, micros: -1, actor: 'system', memo: 'correction' }));

    expect(await walletBalanceMicros(db, a)).toBe(50 * USD - 1_234_567 - 30 - 1);
    expect(await walletBalanceMicros(db, b)).toBe(20 * USD - 3 - 5 * USD);
    expect(await walletBalanceMicros(db, c)).toBe(95_238_095 - 95_000_000);
    expect(await driftedAccounts()).toEqual([]);
    expect((await ledgerCounts()).total).toBe('0');
    const unbalanced = await db.query(
      `SELECT t.id FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id GROUP BY t.id HAVING sum(e.amount_micros) <> 0 OR count(*) < 2`,
    );
    expect(unbalanced.rows).toEqual([]);
  });

  it('posts one usage transaction per org with the right signs, skips zero sums, and posts a batch reference once', async () => {
    const [a, b] = [await newOrg(), await newOrg()];
    const ref = `node-1:${uuidv7()}`;
    const revenueBefore = Number((await db.query(`SELECT balance_micros::text AS b FROM ledger_accounts WHERE id = 'platform:revenue'`)).rows[0]!.b);
    await db.transaction((tx) => postUsageDebits(tx, [{ org_id: a, micros: 700 }, { org_id: b, micros: 0 }, { org_id: a, micros: 300 }], ref, { actor: 'usage:node-1' }));
    // A retried batch (same reference) moves nothing.
    await db.transaction((tx) => postUsageDebits(tx, [{ org_id: a, micros: 1000 }], ref));
    const { rows } = await db.query(
      `SELECT t.kind, t.org_id, t.actor, e.account_id, e.amount_micros::int AS amount FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
        WHERE t.ref = $1 ORDER BY e.amount_micros`,
      [ref],
    );
    expect(rows).toEqual([
      { kind: 'usage', org_id: a, actor: 'usage:node-1', account_id: walletAccountId(a), amount: -1000 },
      { kind: 'usage', org_id: a, actor: 'usage:node-1', account_id: PLATFORM_ACCOUNTS.revenue, amount: 1000 },
    ]);
    expect(await walletBalanceMicros(db, a)).toBe(-1000);
    expect(await walletBalanceMicros(db, b)).toBe(0);
    const revenueAfter = Number((await db.query(`SELECT balance_micros::text AS b FROM ledger_accounts WHERE id = 'platform:revenue'`)).rows[0]!.b);
    expect(revenueAfter - revenueBefore).toBe(1000);
  });

  it('refuses a negative or fractional usage amount without posting anything', async () => {
    const org = await newOrg();
    const before = await ledgerCounts();
    await expect(db.transaction((tx) => postUsageDebits(tx, [{ org_id: org, micros: -5 }], `neg-${uuidv7()}`))).rejects.toThrow(RangeError);
    await expect(db.transaction((tx) => postUsageDebits(tx, [{ org_id: org, micros: 1.5 }], `frac-${uuidv7()}`))).rejects.toThrow(RangeError);
    expect(await ledgerCounts()).toEqual(before);
  });

  it('credits a top-up once per checkout session, split into wallet, fees and Stripe', async () => {
    const org = await newOrg();
    const sessionId = `cs_once_${uuidv7()}`;
    const split = splitTopup(100 * USD);
    const first = await db.transaction((tx) => creditTopup(tx, { orgId: org, sessionId, ...split, actor: 'stripe:evt_1', memo: 'top-up' }));
    const second = await db.transaction((tx) => creditTopup(tx, { orgId: org, sessionId, ...split, actor: 'stripe:evt_2', memo: 'top-up' }));
    expect(first?.transaction.kind).toBe('topup');
    expect(second).toBeNull();
    const { rows } = await db.query('SELECT account_id, amount_micros::bigint::text AS amount FROM ledger_entries WHERE transaction_id = $1 ORDER BY account_id', [first!.transaction.id]);
    expect(rows).toEqual([
      { account_id: 'platform:fees', amount: '4761905' },
      { account_id: 'platform:stripe', amount: '-100000000' },
      { account_id: walletAccountId(org), amount: '95238095' },
    ]);
    expect(await walletBalanceMicros(db, org)).toBe(95_238_095);
  });

  it('refuses an adjustment debit that would take the wallet below zero, and posts nothing', async () => {
    const org = await newOrg();
    await fund(org, 3 * USD);
    const before = await ledgerCounts();
    const result = await db.transaction((tx) => creditAdjustment(tx, { orgId: org, micros: -3 * USD - 1, actor: 'system', memo: 'too much' }));
    expect(result).toEqual({ ok: false, denial: 'would_overdraw' });
    expect(await ledgerCounts()).toEqual(before);
    expect(await walletBalanceMicros(db, org)).toBe(3 * USD);
    const exact = await db.transaction((tx) => creditAdjustment(tx, { orgId: org, micros: -3 * USD, actor: 'system', memo: 'all of it' }));
    expect(exact.ok && exact.balanceMicros).toBe(0);
  });
});

describe('append-only books', () => {
  it('refuses UPDATE, DELETE and TRUNCATE of transactions and entries, and a balance changed by hand', async () => {
    const org = await newOrg();
    await fund(org, USD);
    await expect(db.query('UPDATE ledger_entries SET amount_micros = amount_micros * 2')).rejects.toThrow(/append-only: UPDATE/);
    await expect(db.query('DELETE FROM ledger_entries')).rejects.toThrow(/append-only: DELETE/);
    await expect(db.query('TRUNCATE ledger_entries')).rejects.toThrow(/append-only: TRUNCATE/);
    await expect(db.query("UPDATE ledger_transactions SET memo = 'rewritten'")).rejects.toThrow(/append-only: UPDATE/);
    await expect(db.query('DELETE FROM ledger_transactions')).rejects.toThrow(/append-only: DELETE/);
    await expect(db.query('TRUNCATE ledger_transactions CASCADE')).rejects.toThrow(/append-only: TRUNCATE/);
    await expect(db.query('UPDATE ledger_accounts SET balance_micros = balance_micros + 1 WHERE id = $1', [walletAccountId(org)])).rejects.toThrow(/only by posting/);
    await expect(db.query('DELETE FROM ledger_accounts WHERE id = $1', [walletAccountId(org)])).rejects.toThrow(/append-only: DELETE/);
    expect(await walletBalanceMicros(db, org)).toBe(USD);
    expect(await driftedAccounts()).toEqual([]);
  });

  it('refuses at commit a transaction whose entries do not sum to zero, or that has none', async () => {
    const org = await newOrg();
    const before = await ledgerCounts();
    const txId = uuidv7();
    await expect(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO ledger_transactions (id, kind, org_id, ref, actor) VALUES ($1, 'adjustment', $2, $3, 'test')`, [txId, org, txId]);
        await tx.query('INSERT INTO ledger_entries (id, transaction_id, account_id, amount_micros) VALUES ($1, $2, $3, 10), ($4, $2, $5, -9)', [
          uuidv7(),
          txId,
          walletAccountId(org),
          uuidv7(),
          PLATFORM_ACCOUNTS.adjustments,
        ]);
      }),
    ).rejects.toThrow(/does not balance/);
    await expect(
      db.transaction((tx) => tx.query(`INSERT INTO ledger_transactions (id, kind, org_id, ref, actor) VALUES ($1, 'adjustment', $2, $3, 'test')`, [uuidv7(), org, uuidv7()])),
    ).rejects.toThrow(/does not balance/);
    expect(await ledgerCounts()).toEqual(before);
  });

  it('refuses entries added to a transaction committed earlier, even in balancing pairs', async () => {
    const org = await newOrg();
    const funded = await fund(org, USD);
    const txId = funded.ok ? funded.transaction.id : '';
    await expect(
      db.transaction((tx) =>
        tx.query('INSERT INTO ledger_entries (id, transaction_id, account_id, amount_micros) VALUES ($1, $2, $3, 5), ($4, $2, $5, -5)', [
          uuidv7(),
          txId,
          walletAccountId(org),
          uuidv7(),
          PLATFORM_ACCOUNTS.adjustments,
        ]),
      ),
    ).rejects.toThrow(/only together with their transaction/);
    expect(await walletBalanceMicros(db, org)).toBe(USD);
  });
});

describe('low-balance alert', () => {
  const alertsOf = async (org: string) =>
    (await db.query('SELECT balance_micros::int AS balance, threshold_micros::int AS threshold, transaction_id IS NOT NULL AS by_posting FROM wallet_alerts WHERE org_id = $1 ORDER BY id', [org])).rows;

  it('fires once per downward crossing and re-arms when the balance is back at or above the threshold', async () => {
    const org = await newOrg();
    // A new wallet starts at $0 under the default $10 threshold without an alert: nothing crossed.
    await fund(org, 12 * USD);
    expect(await alertsOf(org)).toEqual([]);
    const debit = (micros: number) => db.transaction((tx) => postUsageDebits(tx, [{ org_id: org, micros }], `low-${uuidv7()}`));
    expect(await debit(1 * USD)).toEqual([]); // $11
    const crossing = await debit(2 * USD); // $9: crosses
    expect(crossing).toHaveLength(1);
    expect(crossing[0]).toMatchObject({ orgId: org, balanceMicros: 9 * USD, thresholdMicros: 10 * USD });
    expect(await debit(1 * USD)).toEqual([]); // $8: still below, no second alert
    expect(await debit(8 * USD)).toEqual([]); // $0
    await fund(org, 10 * USD); // $10: at the threshold, re-armed
    expect(await debit(1)).toHaveLength(1); // $9.999999: crosses again
    expect(await alertsOf(org)).toEqual([
      { balance: 9 * USD, threshold: 10 * USD, by_posting: true },
      { balance: 10 * USD - 1, threshold: 10 * USD, by_posting: true },
    ]);
  });

  it('treats raising the threshold above the balance as a crossing, and lowering it below as a re-arm', async () => {
    const org = await newOrg();
    await fund(org, 20 * USD);
    expect(await db.transaction((tx) => setLowBalanceThreshold(tx, org, 25 * USD))).toHaveLength(1);
    expect(await db.transaction((tx) => setLowBalanceThreshold(tx, org, 30 * USD))).toEqual([]);
    expect(await db.transaction((tx) => setLowBalanceThreshold(tx, org, 5 * USD))).toEqual([]);
    const crossing = await db.transaction((tx) => postUsageDebits(tx, [{ org_id: org, micros: 16 * USD }], `t-${uuidv7()}`));
    expect(crossing.map((a) => a.thresholdMicros)).toEqual([5 * USD]);
    expect(await alertsOf(org)).toEqual([
      { balance: 20 * USD, threshold: 25 * USD, by_posting: false },
      { balance: 4 * USD, threshold: 5 * USD, by_posting: true },
    ]);
  });

  it('emits exactly one alert when concurrent debits cross together, and the books stay straight', async () => {
    const org = await newOrg();
    const other = await newOrg();
    await fund(org, 11 * USD);
    await fund(other, 11 * USD);
    // Overlapping org sets in both orders: the posting's lock order must not deadlock.
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        db.transaction((tx) =>
          postUsageDebits(tx, i % 2 ? [{ org_id: org, micros: 250_000 }, { org_id: other, micros: 250_000 }] : [{ org_id: other, micros: 250_000 }, { org_id: org, micros: 250_000 }], `c-${i}-${uuidv7()}`),
        ),
      ),
    );
    expect(await walletBalanceMicros(db, org)).toBe(9 * USD);
    expect(results.flat().filter((a) => a.orgId === org)).toHaveLength(1);
    expect(await alertsOf(org)).toHaveLength(1);
    expect(await alertsOf(other)).toHaveLength(1);
    expect(await driftedAccounts()).toEqual([]);
  });

  it('logs an alert with ids and amounts only', async () => {
    const lines: { msg: string; fields: LogFields | undefined }[] = [];
    const org = await newOrg();
    await fund(org, 10 * USD);
    const alerts = await db.transaction((tx) => postUsageDebits(tx, [{ org_id: org, micros: 500_000 }], `log-${uuidv7()}`));
    logLowBalanceAlerts((_level, msg, fields) => lines.push({ msg, fields }), alerts);
    expect(lines).toEqual([
      {
        msg: 'wallet low balance',
        fields: { alert_id: alerts[0]!.id, org_id: org, balance_usd: '9.500000', threshold_usd: '10.000000', transaction_id: alerts[0]!.transactionId },
      },
    ]);
  });
});

describe.skipIf(!postgresAvailable())('as the application role', () => {
  it('posts and reads the ledger through taas_app, which can neither change a balance by hand nor rewrite an entry', async () => {
    const login = 'taas_gateway_ledger_test';
    await db.query(`DO $$ BEGIN CREATE ROLE ${login} LOGIN IN ROLE taas_app; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`);
    const url = new URL(testDb.url!);
    url.username = login;
    const app = await openDatabase({ url: url.toString(), maxConnections: 2 });
    try {
      const org = (await insertOrg(app, { id: uuidv7(), name: 'as app' })).id;
      const funded = await app.transaction((tx) => creditAdjustment(tx, { orgId: org, micros: 11 * USD, actor: 'system', memo: 'app role' }));
      expect(funded.ok).toBe(true);
      const alerts = await app.transaction((tx) => postUsageDebits(tx, [{ org_id: org, micros: 2 * USD }], `app-${uuidv7()}`));
      expect(alerts).toHaveLength(1);
      expect(await walletBalanceMicros(app, org)).toBe(9 * USD);
      await expect(app.query('UPDATE ledger_accounts SET balance_micros = 0 WHERE id = $1', [walletAccountId(org)])).rejects.toThrow(/permission denied/);
      await expect(app.query('DELETE FROM ledger_entries')).rejects.toThrow(/permission denied/);
      await expect(app.query('UPDATE ledger_transactions SET memo = $1', ['x'])).rejects.toThrow(/permission denied/);
      expect(await driftedAccounts()).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
