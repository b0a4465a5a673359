// Queries on management tokens (personal access tokens). Only the SHA-256 of a token reaches them.

import type { Queryable } from '../db.ts';

export type TokenRow = {
  id: string;
  user_id: string;
  name: string;
  prefix: string;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
};

const COLUMNS = 'id, user_id, name, prefix, created_at, expires_at, last_used_at, revoked_at';

export async function insertToken(
  db: Queryable,
  token: { id: string; userId: string; name: string; tokenHash: string; prefix: string; expiresAt: string | null },
): Promise<TokenRow> {
  const { rows } = await db.query<TokenRow>(
    `INSERT INTO admin_tokens (id, user_id, name, token_hash, prefix, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
    [token.id, token.userId, token.name, token.tokenHash, token.prefix, token.expiresAt],
  );
  return rows[0]!;
}

export async function findToken(db: Queryable, id: string, options: { forUpdate?: boolean } = {}): Promise<TokenRow | null> {
  const { rows } = await db.query<TokenRow>(`SELECT ${COLUMNS} FROM admin_tokens WHERE id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return rows[0] ?? null;
}

export async function listTokens(db: Queryable, filter: { userId: string; after: string | null; limit: number }): Promise<TokenRow[]> {
  const { rows } = await db.query<TokenRow>(
    `SELECT ${COLUMNS} FROM admin_tokens
      WHERE user_id = $1 AND ($2::uuid IS NULL OR id > $2::uuid)
      ORDER BY id LIMIT $3`,
    [filter.userId, filter.after, filter.limit],
  );
  return rows;
}

export async function revokeToken(db: Queryable, id: string): Promise<TokenRow> {
  const { rows } = await db.query<TokenRow>(`UPDATE admin_tokens SET revoked_at = now() WHERE id = $1 RETURNING ${COLUMNS}`, [id]);
  return rows[0]!;
}

export async function touchTokenLastUsed(db: Queryable, id: string): Promise<void> {
  await db.query('UPDATE admin_tokens SET last_used_at = now() WHERE id = $1', [id]);
}
