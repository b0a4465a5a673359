// Queries that read the audit log: the filtered export and the hash-chain walk. `FROM ONLY`
// everywhere: rows of a table that inherited audit_log must never pass for audit rows. Sorting
// names `a.seq`: a bare `seq` would sort by the `seq::text` output column, "10" before "2".
// (Writing is control-plane/audit.ts; the chain columns are filled by the database.)

import type { Queryable } from '../db.ts';

/** seq and id are bigint, so text; `at` is the exact UTC string the row hash covers. */
export type AuditRow = {
  seq: string;
  id: string;
  at: string;
  actor_user_id: string | null;
  actor_token_id: string | null;
  org_id: string | null;
  action: string;
  target_type: string;
  target_id: string;
  before: unknown;
  after: unknown;
  request_id: string | null;
  client_addr: string | null;
  prev_hash: string;
  row_hash: string;
};

export interface AuditFilter {
  /** null = every row (platform staff); otherwise rows of these orgs only. */
  orgIds: readonly string[] | null;
  actorUserId: string | null;
  action: string | null;
  targetType: string | null;
  targetId: string | null;
  /** ISO datetimes; `from` inclusive, `to` exclusive. */
  from: string | null;
  to: string | null;
  afterSeq: string | null;
  limit: number;
}

export async function listAuditRows(db: Queryable, f: AuditFilter): Promise<AuditRow[]> {
  const { rows } = await db.query<AuditRow>(
    `SELECT seq::text, id::text, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
            actor_user_id, actor_token_id, org_id, action, target_type, target_id, before, after,
            request_id, client_addr, encode(prev_hash, 'hex') AS prev_hash, encode(row_hash, 'hex') AS row_hash
       FROM ONLY audit_log a
      WHERE ($1::uuid[] IS NULL OR org_id = ANY($1::uuid[]))
        AND ($2::uuid IS NULL OR actor_user_id = $2::uuid)
        AND ($3::text IS NULL OR action = $3::text)
        AND ($4::text IS NULL OR target_type = $4::text)
        AND ($5::text IS NULL OR target_id = $5::text)
        AND ($6::timestamptz IS NULL OR a.at >= $6::timestamptz)
        AND ($7::timestamptz IS NULL OR a.at < $7::timestamptz)
        AND ($8::bigint IS NULL OR a.seq > $8::bigint)
      ORDER BY a.seq LIMIT $9`,
    [f.orgIds, f.actorUserId, f.action, f.targetType, f.targetId, f.from, f.to, f.afterSeq, f.limit],
  );
  return rows;
}

export type ChainRow = {
  seq: string;
  id: string;
  prev_hash: string;
  row_hash: string;
  /** Whether the stored row_hash is what audit_row_hash computes from the row as it is now. */
  intact: boolean;
};

/**
 * One page of the chain in seq order, each row re-hashed by the very function the trigger used.
 * Keyed on (seq, id), not seq alone: should the unique constraint on seq be gone, a second row
 * claiming a seq must show up in the walk rather than be skipped by the cursor.
 */
export async function chainPage(db: Queryable, page: { after: { seq: string; id: string }; limit: number }): Promise<ChainRow[]> {
  const { rows } = await db.query<ChainRow>(
    `SELECT seq::text, id::text, encode(prev_hash, 'hex') AS prev_hash, encode(row_hash, 'hex') AS row_hash,
            audit_row_hash(a) IS NOT DISTINCT FROM a.row_hash AS intact
       FROM ONLY audit_log a WHERE (a.seq, a.id) > ($1::bigint, $2::bigint) ORDER BY a.seq, a.id LIMIT $3`,
    [page.after.seq, page.after.id, page.limit],
  );
  return rows;
}

/** The seq of a row whose own hash is this one, if any: tells a moved row from a removed one. */
export async function seqOfRowHash(db: Queryable, rowHashHex: string): Promise<string | null> {
  const { rows } = await db.query<{ seq: string }>(
    `SELECT seq::text FROM ONLY audit_log a WHERE a.row_hash = decode($1, 'hex') ORDER BY a.seq LIMIT 1`,
    [rowHashHex],
  );
  return rows[0]?.seq ?? null;
}

export async function rowHashAt(db: Queryable, seq: string): Promise<string | null> {
  const { rows } = await db.query<{ row_hash: string }>(`SELECT encode(row_hash, 'hex') AS row_hash FROM ONLY audit_log WHERE seq = $1::bigint`, [seq]);
  return rows[0]?.row_hash ?? null;
}
