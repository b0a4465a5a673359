// Queries on customer API keys. Only the SHA-256 of a key ever reaches these functions.

import type { Queryable } from '../db.ts';

export type KeyRow = {
  id: string;
  org_id: string;
  owner_user_id: string | null;
  name: string;
  prefix: string;
  allowed_models: string[];
  allowed_regions: string[];
  allowed_suppliers: string[];
  status: 'active' | 'revoked';
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
};

const COLUMNS = `id, org_id, owner_user_id, name, prefix, allowed_models, allowed_regions, allowed_suppliers,
                 status, created_at, expires_at, revoked_at`;

export interface NewKey {
  id: string;
  orgId: string;
  ownerUserId: string | null;
  name: string;
  keyHash: string;
  prefix: string;
  allowedModels: string[];
  allowedRegions: string[];
  allowedSuppliers: string[];
  expiresAt: string | null;
}

export async function insertKey(db: Queryable, key: NewKey): Promise<KeyRow> {
  const { rows } = await db.query<KeyRow>(
    `INSERT INTO api_keys (id, org_id, owner_user_id, name, key_hash, prefix, allowed_models, allowed_regions,
                           allowed_suppliers, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${COLUMNS}`,
    [
      key.id,
      key.orgId,
      key.ownerUserId,
      key.name,
      key.keyHash,
      key.prefix,
      key.allowedModels,
      key.allowedRegions,
      key.allowedSuppliers,
      key.expiresAt,
    ],
  );
  return rows[0]!;
}

export async function findKey(db: Queryable, id: string, options: { forUpdate?: boolean } = {}): Promise<KeyRow | null> {
  const { rows } = await db.query<KeyRow>(
    `SELECT ${COLUMNS} FROM api_keys WHERE id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] ?? null;
}

export async function listKeys(
  db: Queryable,
  filter: { orgId: string; ownerUserId: string | null; after: string | null; limit: number },
): Promise<KeyRow[]> {
  const { rows } = await db.query<KeyRow>(
    `SELECT ${COLUMNS} FROM api_keys
      WHERE org_id = $1 AND ($2::uuid IS NULL OR owner_user_id = $2::uuid) AND ($3::uuid IS NULL OR id > $3::uuid)
      ORDER BY id LIMIT $4`,
    [filter.orgId, filter.ownerUserId, filter.after, filter.limit],
  );
  return rows;
}

export async function revokeKey(db: Queryable, id: string): Promise<KeyRow> {
  const { rows } = await db.query<KeyRow>(
    `UPDATE api_keys SET status = 'revoked', revoked_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
    [id],
  );
  return rows[0]!;
}

/** Key id → (org, owner) for the keys named in a usage batch. */
export async function findKeyOwners(
  db: Queryable,
  ids: string[],
): Promise<Map<string, { orgId: string; ownerUserId: string | null }>> {
  const { rows } = await db.query<{ id: string; org_id: string; owner_user_id: string | null }>(
    'SELECT id, org_id, owner_user_id FROM api_keys WHERE id = ANY($1::uuid[])',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, { orgId: r.org_id, ownerUserId: r.owner_user_id }]));
}
