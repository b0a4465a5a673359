// Audit-log test helpers: act as the application role, simulate a superuser attacker inside a
// transaction that is always rolled back, and write plain audit rows.

import type { Database, Queryable } from '../../control-plane/db.ts';

/** Runs `fn` on one connection as `taas_app`, as production would connect. */
export async function asAppRole<T>(db: Database, fn: (conn: Queryable) => Promise<T>): Promise<T> {
  return db.withConnection(async (conn) => {
    await conn.query('SET ROLE taas_app');
    try {
      return await fn(conn);
    } finally {
      await conn.query('RESET ROLE');
    }
  });
}

/** BEGIN … ROLLBACK on one connection, whatever `fn` did: tampering never outlives the test. */
export async function withRollback<T>(db: Database, fn: (conn: Queryable) => Promise<T>): Promise<T> {
  return db.withConnection(async (conn) => {
    await conn.query('BEGIN');
    try {
      return await fn(conn);
    } finally {
      await conn.query('ROLLBACK');
    }
  });
}

/**
 * What a superuser can do that no trigger stops: switch the event triggers off, then the table's
 * own triggers. Use inside withRollback only.
 */
export async function bypassProtection(conn: Queryable): Promise<void> {
  await conn.query('ALTER EVENT TRIGGER audit_log_guard_ddl DISABLE');
  await conn.query('ALTER EVENT TRIGGER audit_log_guard_rewrite DISABLE');
  await conn.query('ALTER TABLE audit_log DISABLE TRIGGER USER');
}

/** Appends `count` rows straight through SQL, as writeAudit would; returns their seqs. */
export async function appendAuditRows(db: Queryable, count: number, fields: { action?: string; orgId?: string | null } = {}): Promise<string[]> {
  const { rows } = await db.query<{ seq: string }>(
    `INSERT INTO audit_log (action, target_type, target_id, org_id, after)
     SELECT $1, 'thing', 'thing-' || n, $2::uuid, jsonb_build_object('n', n) FROM generate_series(1, $3::int) AS n
     RETURNING seq::text`,
    [fields.action ?? 'test.append', fields.orgId ?? null, count],
  );
  return rows.map((row) => row.seq);
}

export async function chainHead(db: Queryable): Promise<{ seq: string; hash: string }> {
  const { rows } = await db.query<{ seq: string; hash: string }>(
    `SELECT seq::text, encode(row_hash, 'hex') AS hash FROM audit_log a ORDER BY a.seq DESC LIMIT 1`,
  );
  return rows[0]!;
}
