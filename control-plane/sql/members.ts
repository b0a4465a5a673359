// Queries on org memberships: role and per-user limits of each member of an org.

import type { Queryable } from '../db.ts';
import type { OrgRole } from './principals.ts';

export type BudgetPeriod = 'daily' | 'monthly' | 'cumulative';

export type MemberRow = {
  org_id: string;
  user_id: string;
  email: string;
  name: string;
  status: 'active' | 'disabled';
  role: OrgRole;
  /** bigint arrives as text; the presenter turns it into a number. */
  budget_limit_micros: string | null;
  budget_period: BudgetPeriod | null;
  allowed_models: string[];
  allowed_regions: string[];
  allowed_suppliers: string[];
  created_at: Date;
};

export type MemberFields = {
  role: OrgRole;
  budgetLimitMicros: number | null;
  budgetPeriod: BudgetPeriod | null;
  allowedModels: string[];
  allowedRegions: string[];
  allowedSuppliers: string[];
};

const SELECT = `SELECT m.org_id, m.user_id, u.email, u.name, u.status, m.role, m.budget_limit_micros::text,
                       m.budget_period, m.allowed_models, m.allowed_regions, m.allowed_suppliers, m.created_at
                  FROM org_members m JOIN users u ON u.id = m.user_id`;

/**
 * Holds the org's row until the transaction ends: every membership change in one org takes it
 * first, so the last-owner rule cannot be beaten by two owners leaving at once. NO KEY UPDATE
 * leaves inserts elsewhere that reference the org (keys, memberships) unblocked.
 */
export async function lockOrgMemberships(tx: Queryable, orgId: string): Promise<void> {
  await tx.query('SELECT id FROM orgs WHERE id = $1 FOR NO KEY UPDATE', [orgId]);
}

export async function findMember(db: Queryable, orgId: string, userId: string): Promise<MemberRow | null> {
  const { rows } = await db.query<MemberRow>(`${SELECT} WHERE m.org_id = $1 AND m.user_id = $2`, [orgId, userId]);
  return rows[0] ?? null;
}

/** `onlyUserId` narrows the list to one member (what a plain `user` may see). Ordered by user id. */
export async function listMembers(
  db: Queryable,
  filter: { orgId: string; onlyUserId: string | null; after: string | null; limit: number },
): Promise<MemberRow[]> {
  const { rows } = await db.query<MemberRow>(
    `${SELECT}
      WHERE m.org_id = $1 AND ($2::uuid IS NULL OR m.user_id = $2::uuid) AND ($3::uuid IS NULL OR m.user_id > $3::uuid)
      ORDER BY m.user_id LIMIT $4`,
    [filter.orgId, filter.onlyUserId, filter.after, filter.limit],
  );
  return rows;
}

export async function insertMember(db: Queryable, member: { orgId: string; userId: string; role: OrgRole }): Promise<void> {
  await db.query('INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)', [member.orgId, member.userId, member.role]);
}

export async function updateMember(db: Queryable, orgId: string, userId: string, fields: MemberFields): Promise<void> {
  await db.query(
    `UPDATE org_members SET role = $3, budget_limit_micros = $4, budget_period = $5, allowed_models = $6,
            allowed_regions = $7, allowed_suppliers = $8
      WHERE org_id = $1 AND user_id = $2`,
    [orgId, userId, fields.role, fields.budgetLimitMicros, fields.budgetPeriod, fields.allowedModels, fields.allowedRegions, fields.allowedSuppliers],
  );
}

export async function deleteMember(db: Queryable, orgId: string, userId: string): Promise<void> {
  await db.query('DELETE FROM org_members WHERE org_id = $1 AND user_id = $2', [orgId, userId]);
}

/** Owners whose account is active: an org left with only disabled owners has nobody to run it. */
export async function countOtherActiveOrgOwners(db: Queryable, orgId: string, exceptUserId: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM org_members m JOIN users u ON u.id = m.user_id
      WHERE m.org_id = $1 AND m.role = 'org_owner' AND u.status = 'active' AND m.user_id <> $2`,
    [orgId, exceptUserId],
  );
  return Number(rows[0]!.n);
}
