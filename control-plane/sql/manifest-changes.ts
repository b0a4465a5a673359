// Queries behind manifest deltas: the change log that migration 0007's triggers write.

import type { Queryable } from '../db.ts';

/** The current version, and the oldest version a delta can start from (the log is complete after it). */
export async function readChangeWindow(db: Queryable): Promise<{ version: number; changesSince: number }> {
  const { rows } = await db.query<{ version: string; changes_since: string }>('SELECT version, changes_since FROM manifest_state');
  return { version: Number(rows[0]!.version), changesSince: Number(rows[0]!.changes_since) };
}

/** Key hashes whose entry may differ between manifest versions `from` and `to`; null when more than `limit`. */
export async function listChangedKeyHashes(db: Queryable, range: { from: number; to: number; limit: number }): Promise<string[] | null> {
  const { rows } = await db.query<{ key_hash: string }>(
    'SELECT DISTINCT key_hash FROM manifest_key_changes WHERE version > $1 AND version <= $2 LIMIT $3',
    [range.from, range.to, range.limit + 1],
  );
  return rows.length > range.limit ? null : rows.map((r) => r.key_hash);
}

/**
 * Drops log rows written before `before` and moves changes_since past every version they held:
 * the log stays complete for every version after changes_since, and a delta from an older version
 * becomes a snapshot. One statement, so the two cannot disagree. Answers the rows dropped.
 */
export async function pruneKeyChanges(db: Queryable, before: Date): Promise<number> {
  const { rows } = await db.query<{ dropped: string }>(
    `WITH gone AS (DELETE FROM manifest_key_changes WHERE changed_at < $1 RETURNING version),
          moved AS (UPDATE manifest_state SET changes_since = GREATEST(changes_since, (SELECT max(version) FROM gone))
                     WHERE EXISTS (SELECT 1 FROM gone) RETURNING 1)
     SELECT count(*)::text AS dropped FROM gone`,
    [before],
  );
  return Number(rows[0]!.dropped);
}
