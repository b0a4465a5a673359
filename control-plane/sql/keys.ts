// Queries on customer API keys. Only the SHA-256 of a key ever reaches these functions.

import type { Queryable } from '../db.ts';
import type { OrgRole } from './principals.ts';

export type KeyRow = {
  id: string;
  org_id: string;
  owner_user_id: string | null;
  name: string;
  prefix: string;
  allowed_models: string[];
  allowed_regions: string[];
  allowed_suppliers: string[];
  budget_limit_micros: string | null;
  budget_period: 'daily' | 'monthly' | 'cumulative' | null;
  rate_limit_rpm: number | null;
  rate_limit_tpm: number | null;
  status: 'active' | 'revoked';
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  rotated_at: Date | null;
  previous_key_expires_at: Date | null;
};

const COLUMNS = `id, org_id, owner_user_id, name, prefix, allowed_models, allowed_regions, allowed_suppliers,
                 budget_limit_micros::text, budget_period, rate_limit_rpm, rate_limit_tpm,
                 status, created_at, expires_at, revoked_at, rotated_at, previous_key_expires_at`;

/** The policy fields of a key, as PATCH replaces them. */
export interface KeyPolicyFields {
  name: string;
  allowedModels: string[];
  allowedRegions: string[];
  allowedSuppliers: string[];
  budgetLimitMicros: number | null;
  budgetPeriod: 'daily' | 'monthly' | 'cumulative' | null;
  rateLimitRpm: number | null;
  rateLimitTpm: number | null;
  expiresAt: string | null;
}

export interface NewKey extends KeyPolicyFields {
  id: string;
  orgId: string;
  ownerUserId: string | null;
  keyHash: string;
  prefix: string;
}

export async function insertKey(db: Queryable, key: NewKey): Promise<KeyRow> {
  const { rows } = await db.query<KeyRow>(
    `INSERT INTO api_keys (id, org_id, owner_user_id, name, key_hash, prefix, allowed_models, allowed_regions,
                           allowed_suppliers, expires_at, budget_limit_micros, budget_period, rate_limit_rpm, rate_limit_tpm)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING ${COLUMNS}`,
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
      key.budgetLimitMicros,
      key.budgetPeriod,
      key.rateLimitRpm,
      key.rateLimitTpm,
    ],
  );
  return rows[0]!;
}

export async function updateKeyPolicy(db: Queryable, id: string, p: KeyPolicyFields): Promise<KeyRow> {
  const { rows } = await db.query<KeyRow>(
    `UPDATE api_keys SET name = $2, allowed_models = $3, allowed_regions = $4, allowed_suppliers = $5,
            budget_limit_micros = $6, budget_period = $7, rate_limit_rpm = $8, rate_limit_tpm = $9, expires_at = $10
      WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, p.name, p.allowedModels, p.allowedRegions, p.allowedSuppliers, p.budgetLimitMicros, p.budgetPeriod, p.rateLimitRpm, p.rateLimitTpm, p.expiresAt],
  );
  return rows[0]!;
}

/** A new secret; the current one stays valid until `previousExpiresAt` (null: it stops now). */
export async function rotateKeySecret(
  db: Queryable,
  id: string,
  secret: { keyHash: string; prefix: string; previousExpiresAt: string | null },
): Promise<KeyRow> {
  const { rows } = await db.query<KeyRow>(
    `UPDATE api_keys
        SET previous_key_hash = CASE WHEN $4::timestamptz IS NULL THEN NULL ELSE key_hash END,
            previous_key_expires_at = $4::timestamptz,
            key_hash = $2, prefix = $3, rotated_at = now()
      WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, secret.keyHash, secret.prefix, secret.previousExpiresAt],
  );
  return rows[0]!;
}

/**
 * The owner's membership in the key's org: role and per-user limits; null when the user is not a
 * member of it. Locked (FOR SHARE) until the
 * transaction ends, so removing the member or changing their limits waits for the key written
 * under them, and then sees it (removal revokes it, a narrowing reaches it).
 */
export async function findOwnerLimits(db: Queryable, orgId: string, userId: string) {
  const { rows } = await db.query<{
    role: OrgRole;
    budget_limit_micros: string | null;
    budget_period: 'daily' | 'monthly' | 'cumulative' | null;
    allowed_models: string[];
    allowed_regions: string[];
    allowed_suppliers: string[];
  }>(
    `SELECT role, budget_limit_micros::text, budget_period, allowed_models, allowed_regions, allowed_suppliers
       FROM org_members WHERE org_id = $1 AND user_id = $2 FOR SHARE`,
    [orgId, userId],
  );
  const row = rows[0];
  return row
    ? {
        role: row.role,
        allowedModels: row.allowed_models,
        allowedRegions: row.allowed_regions,
        allowedSuppliers: row.allowed_suppliers,
        budgetLimitMicros: row.budget_limit_micros === null ? null : Number(row.budget_limit_micros),
        budgetPeriod: row.budget_period,
      }
    : null;
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

/** Revokes every active key a user owns in an org; answers their ids. */
export async function revokeKeysOfOwner(db: Queryable, orgId: string, ownerUserId: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `UPDATE api_keys SET status = 'revoked', revoked_at = now()
      WHERE org_id = $1 AND owner_user_id = $2 AND status = 'active' RETURNING id`,
    [orgId, ownerUserId],
  );
  return rows.map((r) => r.id).sort();
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
