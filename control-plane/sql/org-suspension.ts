// The writes behind org suspension: an org's status, which the manifest carries to every edge.

import type { Queryable } from '../db.ts';
import type { OrgRow } from './orgs.ts';

export async function setOrgStatus(db: Queryable, id: string, status: OrgRow['status']): Promise<OrgRow> {
  const { rows } = await db.query<OrgRow>('UPDATE orgs SET status = $2 WHERE id = $1 RETURNING id, name, status, created_at', [id, status]);
  return rows[0]!;
}

/** The org, row-locked for a status change (concurrent suspend/unsuspend serialise on it). */
export async function lockOrg(db: Queryable, id: string): Promise<OrgRow | null> {
  const { rows } = await db.query<OrgRow>('SELECT id, name, status, created_at FROM orgs WHERE id = $1 FOR UPDATE', [id]);
  return rows[0] ?? null;
}
