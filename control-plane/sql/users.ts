// Queries on user accounts: create, read, list, status and platform role.

import type { Queryable } from '../db.ts';
import type { OrgRole, PlatformRole } from './principals.ts';

export type UserRow = {
  id: string;
  email: string;
  name: string;
  status: 'active' | 'disabled';
  platform_role: PlatformRole | null;
  created_at: Date;
};

const COLUMNS = 'id, email, name, status, platform_role, created_at';

/** Any 64-bit constant distinct from the others in use; serialises changes to platform owners. */
const PLATFORM_OWNERS_LOCK = 7_230_118_412;

export async function insertUser(db: Queryable, user: { id: string; email: string; name: string }): Promise<UserRow> {
  const { rows } = await db.query<UserRow>(`INSERT INTO users (id, email, name) VALUES ($1, $2, $3) RETURNING ${COLUMNS}`, [
    user.id,
    user.email,
    user.name,
  ]);
  return rows[0]!;
}

export async function findUser(db: Queryable, id: string, options: { forUpdate?: boolean } = {}): Promise<UserRow | null> {
  const { rows } = await db.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return rows[0] ?? null;
}

/** Emails match whatever their case (one account per address, see migration 0002). */
export async function findUserByEmail(db: Queryable, email: string): Promise<UserRow | null> {
  const { rows } = await db.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE lower(email) = lower($1)`, [email]);
  return rows[0] ?? null;
}

export async function listUsers(db: Queryable, filter: { after: string | null; limit: number }): Promise<UserRow[]> {
  const { rows } = await db.query<UserRow>(
    `SELECT ${COLUMNS} FROM users WHERE ($1::uuid IS NULL OR id > $1::uuid) ORDER BY id LIMIT $2`,
    [filter.after, filter.limit],
  );
  return rows;
}

export async function setUserStatus(db: Queryable, id: string, status: UserRow['status']): Promise<UserRow> {
  const { rows } = await db.query<UserRow>(`UPDATE users SET status = $2 WHERE id = $1 RETURNING ${COLUMNS}`, [id, status]);
  return rows[0]!;
}

export async function setPlatformRole(db: Queryable, id: string, role: PlatformRole | null): Promise<UserRow> {
  const { rows } = await db.query<UserRow>(`UPDATE users SET platform_role = $2 WHERE id = $1 RETURNING ${COLUMNS}`, [id, role]);
  return rows[0]!;
}

/**
 * Holds, until the transaction ends, the lock every change that could leave no active taas_owner
 * takes first, so two owners demoting or disabling each other at once cannot both succeed.
 */
export async function lockPlatformOwners(tx: Queryable): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [PLATFORM_OWNERS_LOCK]);
}

export async function countOtherActivePlatformOwners(db: Queryable, exceptUserId: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    "SELECT count(*) AS n FROM users WHERE platform_role = 'taas_owner' AND status = 'active' AND id <> $1",
    [exceptUserId],
  );
  return Number(rows[0]!.n);
}

export type UserMembershipRow = { org_id: string; org_name: string; role: OrgRole };

export async function listUserMemberships(db: Queryable, userId: string): Promise<UserMembershipRow[]> {
  const { rows } = await db.query<UserMembershipRow>(
    `SELECT m.org_id, o.name AS org_name, m.role FROM org_members m JOIN orgs o ON o.id = m.org_id
      WHERE m.user_id = $1 ORDER BY m.org_id`,
    [userId],
  );
  return rows;
}
