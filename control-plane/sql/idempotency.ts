// Queries behind Idempotency-Key: claim a key, record the answer, read a recorded answer.

import type { Queryable } from '../db.ts';

export type IdempotencyRow = {
  request_hash: string;
  status: number | null;
  response: unknown;
  stale: boolean;
};

/** A claim left unanswered this long is treated as abandoned (its process died mid-request). */
const ABANDONED_AFTER = '60 seconds';
/** Keys are remembered this long, as Stripe does. */
const RETENTION = '24 hours';

/** True when this call now owns the key: it was free, expired or abandoned. */
export async function claimIdempotencyKey(db: Queryable, tokenId: string, key: string, requestHash: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO idempotency_keys (token_id, key, request_hash) VALUES ($1, $2, $3)
     ON CONFLICT (token_id, key) DO UPDATE
       SET request_hash = EXCLUDED.request_hash, status = NULL, response = NULL, created_at = now()
       WHERE idempotency_keys.created_at < now() - interval '${RETENTION}'
          OR (idempotency_keys.status IS NULL AND idempotency_keys.created_at < now() - interval '${ABANDONED_AFTER}')`,
    [tokenId, key, requestHash],
  );
  return rowCount === 1;
}

export async function findIdempotencyKey(db: Queryable, tokenId: string, key: string): Promise<IdempotencyRow | null> {
  const { rows } = await db.query<IdempotencyRow>(
    `SELECT request_hash, status, response, created_at < now() - interval '${ABANDONED_AFTER}' AS stale
       FROM idempotency_keys WHERE token_id = $1 AND key = $2`,
    [tokenId, key],
  );
  return rows[0] ?? null;
}

export async function recordIdempotentAnswer(db: Queryable, tokenId: string, key: string, answer: { status: number; response: unknown }): Promise<void> {
  await db.query('UPDATE idempotency_keys SET status = $3, response = $4 WHERE token_id = $1 AND key = $2', [
    tokenId,
    key,
    answer.status,
    JSON.stringify(answer.response),
  ]);
}

/** A server error is not an answer worth replaying: the key is freed so the client may retry. */
export async function releaseIdempotencyKey(db: Queryable, tokenId: string, key: string): Promise<void> {
  await db.query('DELETE FROM idempotency_keys WHERE token_id = $1 AND key = $2 AND status IS NULL', [tokenId, key]);
}

/**
 * Forgets keys past their retention, at most `limit` at a time (a claim replaces an expired row
 * of its own key, but keys never used again would stay for good: any user could grow the table
 * without bound with unique keys on harmless POSTs). Answers how many went.
 */
export async function purgeExpiredIdempotencyKeys(db: Queryable, limit = 1_000): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM idempotency_keys WHERE ctid IN (
       SELECT ctid FROM idempotency_keys WHERE created_at < now() - interval '${RETENTION}' LIMIT $1)`,
    [limit],
  );
  return rowCount;
}
