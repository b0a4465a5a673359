// Queries behind allowance leases (migration 0012). The standing of a scope — its limit, what is
// spent and what live leases hold — is read in ONE statement, so it sees one snapshot: ingestion
// moves money from a lease's hold to the rollups and the wallet in one transaction, and two
// statements could see that move half done and count the money twice or not at all.

import type { Queryable } from '../db.ts';

/** Closed leases keep holding their unbilled usage this long at most (their events are late). */
export const CLOSED_HOLD_RETENTION = '15 minutes';

export type BudgetPeriod = 'daily' | 'monthly' | 'cumulative';

export interface ScopeFacts {
  org_id: string;
  /** False: key revoked or expired, org suspended, user no longer a member. */
  active: boolean;
  /** µUSD; null: no money limit of this scope. */
  budget_limit: number | null;
  budget_period: BudgetPeriod | null;
  rpm: number | null;
  tpm: number | null;
}

export async function orgFacts(q: Queryable, orgId: string): Promise<ScopeFacts | null> {
  const { rows } = await q.query<{ status: string }>(`SELECT status FROM orgs WHERE id = $1`, [orgId]);
  const row = rows[0];
  return row ? { org_id: orgId, active: row.status === 'active', budget_limit: null, budget_period: null, rpm: null, tpm: null } : null;
}

export async function userFacts(q: Queryable, orgId: string, userId: string): Promise<ScopeFacts | null> {
  const { rows } = await q.query<{ limit: string | null; period: BudgetPeriod | null; org_status: string; user_status: string }>(
    `SELECT m.budget_limit_micros::text AS limit, m.budget_period AS period, o.status AS org_status, u.status AS user_status
       FROM org_members m JOIN orgs o ON o.id = m.org_id JOIN users u ON u.id = m.user_id
      WHERE m.org_id = $1 AND m.user_id = $2`,
    [orgId, userId],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    org_id: orgId,
    active: row.org_status === 'active' && row.user_status === 'active',
    budget_limit: row.limit === null ? null : Number(row.limit),
    budget_period: row.period,
    rpm: null,
    tpm: null,
  };
}

export async function keyFacts(q: Queryable, keyId: string, now: Date): Promise<ScopeFacts | null> {
  const { rows } = await q.query<{
    org_id: string;
    status: string;
    expires_at: Date | null;
    limit: string | null;
    period: BudgetPeriod | null;
    rpm: number | null;
    tpm: number | null;
    org_status: string;
  }>(
    `SELECT k.org_id, k.status, k.expires_at, k.budget_limit_micros::text AS limit, k.budget_period AS period,
            k.rate_limit_rpm AS rpm, k.rate_limit_tpm AS tpm, o.status AS org_status
       FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE k.id = $1`,
    [keyId],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    org_id: row.org_id,
    active: row.status === 'active' && row.org_status === 'active' && (row.expires_at === null || row.expires_at > now),
    budget_limit: row.limit === null ? null : Number(row.limit),
    budget_period: row.period,
    rpm: row.rpm,
    tpm: row.tpm,
  };
}

export interface Standing {
  /** Org: the wallet balance; key/user: spent in the period (from the daily rollups). */
  base: number;
  held_money: number;
  held_requests: number;
  held_tokens: number;
}

/**
 * What a scope has used and what its leases hold, in one snapshot. `spent` selects the base:
 * the org wallet's balance, or the rollups of a key / a member over [from, to) days.
 */
export async function standingOf(
  q: Queryable,
  args: {
    scope: string;
    spent: { kind: 'wallet'; orgId: string } | { kind: 'key'; keyId: string } | { kind: 'user'; orgId: string; userId: string } | null;
    /** Budget period bounds (UTC dates, inclusive / exclusive); null = cumulative. */
    periodStart: Date | null;
    periodEnd: Date | null;
    windowStart: Date | null;
    now: Date;
  },
): Promise<Standing> {
  const days = `(p.period_start IS NULL OR d.day >= (p.period_start AT TIME ZONE 'UTC')::date)
                AND (p.period_end IS NULL OR d.day < (p.period_end AT TIME ZONE 'UTC')::date)`;
  const spentSql =
    args.spent === null
      ? '0'
      : args.spent.kind === 'wallet'
        ? `(SELECT COALESCE(max(balance_micros), 0) FROM ledger_accounts WHERE id = 'wallet:' || p.a)`
        : args.spent.kind === 'key'
          ? `(SELECT COALESCE(sum(d.cost_micros), 0) FROM usage_daily d WHERE d.key_id = p.a::uuid AND ${days})`
          : `(SELECT COALESCE(sum(d.cost_micros), 0) FROM usage_daily d WHERE d.org_id = p.a::uuid AND d.user_id = p.b::uuid AND ${days})`;
  const [a, b] =
    args.spent === null
      ? [null, null]
      : args.spent.kind === 'wallet'
        ? [args.spent.orgId, null]
        : args.spent.kind === 'key'
          ? [args.spent.keyId, null]
          : [args.spent.orgId, args.spent.userId];
  // Every parameter is typed once in `p`, whichever base the statement reads.
  const { rows } = await q.query<{ base: string; held_money: string; held_requests: string; held_tokens: string }>(
    `WITH p AS (SELECT $1::text AS scope, $2::timestamptz AS period_start, $3::timestamptz AS period_end, $4::timestamptz AS now,
                       $5::timestamptz AS window_start, $6::text AS a, $7::text AS b)
     SELECT ${spentSql}::text AS base,
            COALESCE(sum(GREATEST(l.money_cap - l.ingested_micros, 0))
                       FILTER (WHERE (l.closed_at IS NOT NULL OR l.expires_at > p.now)
                                 AND l.period_start IS NOT DISTINCT FROM p.period_start), 0)::text AS held_money,
            COALESCE(sum(l.requests_cap) FILTER (WHERE l.window_start = p.window_start), 0)::text AS held_requests,
            COALESCE(sum(l.tokens_cap) FILTER (WHERE l.window_start = p.window_start), 0)::text AS held_tokens
       FROM p LEFT JOIN allowance_leases l ON l.scope = p.scope AND l.expires_at > p.now - interval '${CLOSED_HOLD_RETENTION}'
      GROUP BY p.scope, p.period_start, p.period_end, p.now, p.window_start, p.a, p.b`,
    [args.scope, args.periodStart, args.periodEnd, args.now, args.windowStart, a, b],
  );
  const row = rows[0]!;
  return { base: Number(row.base), held_money: Number(row.held_money), held_requests: Number(row.held_requests), held_tokens: Number(row.held_tokens) };
}

export interface NewLease {
  id: string;
  node_id: string;
  scope: string;
  org_id: string;
  period_start: Date | null;
  window_start: Date | null;
  money: number | null;
  requests: number | null;
  tokens: number | null;
  granted_at: Date;
  expires_at: Date;
}

export async function insertLease(q: Queryable, lease: NewLease): Promise<void> {
  await q.query(
    `INSERT INTO allowance_leases (id, node_id, scope, org_id, period_start, window_start, money_granted, money_cap,
                                   requests_granted, requests_cap, tokens_granted, tokens_cap, granted_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $8, $9, $9, $10, $11)`,
    [lease.id, lease.node_id, lease.scope, lease.org_id, lease.period_start, lease.window_start, lease.money, lease.requests, lease.tokens, lease.granted_at, lease.expires_at],
  );
}

/** Lowers caps (never raises them) and closes; only this node's leases. Closing keeps the row in the hold range. */
export async function updateLeases(
  q: Queryable,
  nodeId: string,
  updates: { lease_id: string; money_cap: number; tokens_cap: number; requests_used: number; closed: boolean }[],
  now: Date,
): Promise<void> {
  if (updates.length === 0) return;
  // Rows locked in id order (`locked`), the order ingestion locks leases in (applyLeaseUsage): two
  // transactions touching the same two leases can then never wait on each other in a cycle.
  await q.query(
    `WITH locked AS (SELECT id FROM allowance_leases WHERE id = ANY($4::uuid[]) AND node_id = $2 ORDER BY id FOR UPDATE)
     UPDATE allowance_leases l
        SET money_cap = CASE WHEN l.money_cap IS NULL THEN NULL ELSE LEAST(l.money_cap, u.money_cap) END,
            tokens_cap = CASE WHEN l.tokens_cap IS NULL THEN NULL ELSE LEAST(l.tokens_cap, u.tokens_cap) END,
            requests_cap = CASE WHEN l.requests_cap IS NULL THEN NULL ELSE LEAST(l.requests_cap, u.requests_used) END,
            closed_at = CASE WHEN u.closed AND l.closed_at IS NULL THEN $3::timestamptz ELSE l.closed_at END,
            expires_at = CASE WHEN u.closed THEN GREATEST(l.expires_at, $3::timestamptz) ELSE l.expires_at END
       FROM jsonb_to_recordset($1::jsonb) AS u(lease_id uuid, money_cap bigint, tokens_cap bigint, requests_used integer, closed boolean)
       JOIN locked ON locked.id = u.lease_id
      WHERE l.id = u.lease_id AND l.node_id = $2`,
    [JSON.stringify(updates), nodeId, now, updates.map((u) => u.lease_id)],
  );
}

/** Extends live, unclosed leases of this node; answers the ids that could not be (expired or closed). */
export async function extendLeases(q: Queryable, nodeId: string, ids: string[], now: Date, until: Date): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await q.query<{ id: string }>(
    `UPDATE allowance_leases SET expires_at = $4
      WHERE id = ANY($1::uuid[]) AND node_id = $2 AND closed_at IS NULL AND expires_at > $3
      RETURNING id`,
    [ids, nodeId, now, until],
  );
  const kept = new Set(rows.map((r) => r.id));
  return ids.filter((id) => !kept.has(id));
}

/**
 * Ingestion's half of the hold accounting: each event's cost moves from the holds of the leases
 * it names to "spent". Call inside the ingest transaction, with the rows actually inserted.
 * Only leases of the ingesting node in the event's own org count, each once per event: the ids
 * come from a node, and a wrong one (a bug, or a node that is not ours any more) must not release
 * money another org's or another node's lease holds back, nor count one event's cost twice.
 */
export async function applyLeaseUsage(
  tx: Queryable,
  nodeId: string,
  rows: { org_id: string; lease_ids?: readonly string[] | null; cost_micros: number }[],
): Promise<void> {
  // One (lease, org, cost) per event and lease it names, each lease once an event; the sums per
  // lease are the statement's.
  const named = rows.flatMap((row) => (row.cost_micros > 0 ? [...new Set(row.lease_ids ?? [])].map((id) => ({ id, org_id: row.org_id, micros: row.cost_micros })) : []));
  if (named.length === 0) return;
  // Locked in id order: concurrent batches touching the same leases lock them in one order (no deadlock).
  await tx.query(
    `WITH named AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS n(id, org_id, micros)),
          locked AS (SELECT id FROM allowance_leases WHERE id = ANY($1::uuid[]) AND node_id = $4 ORDER BY id FOR UPDATE),
          owed AS (SELECT n.id, sum(n.micros) AS micros
                     FROM named n JOIN allowance_leases l ON l.id = n.id AND l.org_id = n.org_id AND l.node_id = $4
                    GROUP BY n.id)
     UPDATE allowance_leases l SET ingested_micros = l.ingested_micros + owed.micros
       FROM owed, locked
      WHERE l.id = owed.id AND locked.id = owed.id`,
    [named.map((n) => n.id), named.map((n) => n.org_id), named.map((n) => n.micros), nodeId],
  );
}

/** Drops leases that can no longer hold anything. */
export async function pruneLeases(q: Queryable, now: Date): Promise<number> {
  const result = await q.query(`DELETE FROM allowance_leases WHERE expires_at < $1::timestamptz - interval '1 hour'`, [now]);
  return result.rowCount;
}
