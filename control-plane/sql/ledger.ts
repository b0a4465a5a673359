// Queries on the wallet ledger (migration 0010): balanced transactions and their entries, wallet
// balances, the low-balance threshold and its alerts. bigint columns travel as text and become
// numbers here (balances stay far below 2^53 µUSD, ~$9 billion).

import type { Queryable } from '../db.ts';

export type LedgerKind = 'topup' | 'usage' | 'refund' | 'adjustment' | 'reversal';

export interface NewTransactionRow {
  id: string;
  kind: LedgerKind;
  org_id: string;
  ref: string;
  actor: string;
  memo: string;
}

export interface NewEntryRow {
  id: string;
  transaction_id: string;
  account_id: string;
  amount_micros: number;
}

/** Inserts the transactions; one whose (kind, ref, org_id) is already posted is skipped. Answers the ids inserted. */
export async function insertTransactions(db: Queryable, rows: NewTransactionRow[]): Promise<Set<string>> {
  const { rows: inserted } = await db.query<{ id: string }>(
    `INSERT INTO ledger_transactions (id, kind, org_id, ref, actor, memo)
     SELECT t.id, t.kind, t.org_id, t.ref, t.actor, t.memo
       FROM jsonb_to_recordset($1::jsonb) AS t(id uuid, kind text, org_id uuid, ref text, actor text, memo text)
     ON CONFLICT (kind, ref, org_id) DO NOTHING
     RETURNING id`,
    [JSON.stringify(rows)],
  );
  return new Set(inserted.map((r) => r.id));
}

/**
 * One statement for all entries, applied in the order given: callers pass wallets first, then
 * platform accounts, each sorted, so concurrent postings take the account row locks in one order.
 */
export async function insertEntries(db: Queryable, rows: NewEntryRow[]): Promise<void> {
  await db.query(
    `INSERT INTO ledger_entries (id, transaction_id, account_id, amount_micros)
     SELECT e.id, e.transaction_id, e.account_id, e.amount_micros
       FROM jsonb_to_recordset($1::jsonb) AS e(id uuid, transaction_id uuid, account_id text, amount_micros bigint, n integer)
      ORDER BY e.n`,
    [JSON.stringify(rows.map((row, n) => ({ ...row, n })))],
  );
}

export async function findTransactionId(db: Queryable, key: { kind: LedgerKind; ref: string; orgId: string }): Promise<string | null> {
  const { rows } = await db.query<{ id: string }>('SELECT id FROM ledger_transactions WHERE kind = $1 AND ref = $2 AND org_id = $3', [key.kind, key.ref, key.orgId]);
  return rows[0]?.id ?? null;
}

export async function accountBalance(db: Queryable, accountId: string): Promise<number | null> {
  const { rows } = await db.query<{ balance: string }>('SELECT balance_micros::text AS balance FROM ledger_accounts WHERE id = $1', [accountId]);
  return rows[0] ? Number(rows[0].balance) : null;
}

export interface WalletRow {
  org_id: string;
  balance_micros: number;
  low_balance_threshold_micros: number;
  low_balance_alerted: boolean;
}

type RawWalletRow = Omit<WalletRow, 'balance_micros' | 'low_balance_threshold_micros'> & { balance_micros: string; low_balance_threshold_micros: string };

const toWallet = (r: RawWalletRow): WalletRow => ({
  ...r,
  balance_micros: Number(r.balance_micros),
  low_balance_threshold_micros: Number(r.low_balance_threshold_micros),
});

const WALLET_SELECT = `SELECT s.org_id, a.balance_micros::text AS balance_micros, s.low_balance_threshold_micros::text AS low_balance_threshold_micros,
                              s.low_balance_alerted
                         FROM wallet_settings s JOIN ledger_accounts a ON a.id = 'wallet:' || s.org_id::text`;

export async function findWallet(db: Queryable, orgId: string): Promise<WalletRow | null> {
  const { rows } = await db.query<RawWalletRow>(`${WALLET_SELECT} WHERE s.org_id = $1`, [orgId]);
  return rows[0] ? toWallet(rows[0]) : null;
}

/**
 * The wallets with their alert state, the settings rows locked (in org id order) for the
 * low-balance review. Called after the posting, whose balance update already holds each wallet
 * row, so the balances read here are exact until commit.
 */
export async function lockWalletAlertStates(db: Queryable, orgIds: string[]): Promise<WalletRow[]> {
  const { rows } = await db.query<RawWalletRow>(`${WALLET_SELECT} WHERE s.org_id = ANY($1::uuid[]) ORDER BY s.org_id FOR UPDATE OF s`, [orgIds]);
  return rows.map(toWallet);
}

export async function setAlertFlags(db: Queryable, flags: { org_id: string; alerted: boolean }[]): Promise<void> {
  if (flags.length === 0) return;
  await db.query(
    `UPDATE wallet_settings s SET low_balance_alerted = f.alerted, updated_at = now()
       FROM jsonb_to_recordset($1::jsonb) AS f(org_id uuid, alerted boolean)
      WHERE s.org_id = f.org_id`,
    [JSON.stringify(flags)],
  );
}

export async function setThreshold(db: Queryable, orgId: string, thresholdMicros: number): Promise<void> {
  await db.query('UPDATE wallet_settings SET low_balance_threshold_micros = $2, updated_at = now() WHERE org_id = $1', [orgId, thresholdMicros]);
}

export interface AlertRow {
  id: string;
  org_id: string;
  kind: 'low_balance';
  balance_micros: number;
  threshold_micros: number;
  transaction_id: string | null;
  created_at: Date;
}

type RawAlertRow = Omit<AlertRow, 'balance_micros' | 'threshold_micros'> & { balance_micros: string; threshold_micros: string };

const toAlert = (r: RawAlertRow): AlertRow => ({ ...r, balance_micros: Number(r.balance_micros), threshold_micros: Number(r.threshold_micros) });

const ALERT_COLUMNS = 'id, org_id, kind, balance_micros::text AS balance_micros, threshold_micros::text AS threshold_micros, transaction_id, created_at';

export async function insertAlerts(db: Queryable, alerts: Omit<AlertRow, 'created_at' | 'kind'>[]): Promise<AlertRow[]> {
  if (alerts.length === 0) return [];
  const { rows } = await db.query<RawAlertRow>(
    `INSERT INTO wallet_alerts (id, org_id, kind, balance_micros, threshold_micros, transaction_id)
     SELECT a.id, a.org_id, 'low_balance', a.balance_micros, a.threshold_micros, a.transaction_id
       FROM jsonb_to_recordset($1::jsonb) AS a(id uuid, org_id uuid, balance_micros bigint, threshold_micros bigint, transaction_id uuid)
     RETURNING ${ALERT_COLUMNS}`,
    [JSON.stringify(alerts)],
  );
  return rows.map(toAlert);
}

/** Newest first; `before` is the id of the last alert of the previous page. */
export async function listAlerts(db: Queryable, filter: { orgId: string; before: string | null; limit: number }): Promise<AlertRow[]> {
  const { rows } = await db.query<RawAlertRow>(
    `SELECT ${ALERT_COLUMNS} FROM wallet_alerts
      WHERE org_id = $1 AND ($2::uuid IS NULL OR id < $2::uuid) ORDER BY id DESC LIMIT $3`,
    [filter.orgId, filter.before, filter.limit],
  );
  return rows.map(toAlert);
}

export interface WalletEntryRow {
  id: string;
  transaction_id: string;
  kind: LedgerKind;
  ref: string;
  actor: string;
  memo: string;
  amount_micros: number;
  created_at: Date;
}

/** A wallet's entries, newest first, with what moved the money; `before` is the last id of the previous page. */
export async function listWalletEntries(db: Queryable, filter: { orgId: string; before: string | null; limit: number }): Promise<WalletEntryRow[]> {
  const { rows } = await db.query<Omit<WalletEntryRow, 'amount_micros'> & { amount_micros: string }>(
    `SELECT e.id, e.transaction_id, t.kind, t.ref, t.actor, t.memo, e.amount_micros::text AS amount_micros, e.created_at
       FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
      WHERE e.account_id = 'wallet:' || $1::text AND ($2::uuid IS NULL OR e.id < $2::uuid)
      ORDER BY e.id DESC LIMIT $3`,
    [filter.orgId, filter.before, filter.limit],
  );
  return rows.map((r) => ({ ...r, amount_micros: Number(r.amount_micros) }));
}
