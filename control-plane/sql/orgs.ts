// Queries on orgs.

import type { Queryable } from '../db.ts';

export type OrgRow = {
  id: string;
  name: string;
  status: 'active' | 'suspended';
  created_at: Date;
};

export async function insertOrg(db: Queryable, org: { id: string; name: string }): Promise<OrgRow> {
  const { rows } = await db.query<OrgRow>(
    'INSERT INTO orgs (id, name) VALUES ($1, $2) RETURNING id, name, status, created_at',
    [org.id, org.name],
  );
  return rows[0]!;
}

export async function findOrg(db: Queryable, id: string): Promise<OrgRow | null> {
  const { rows } = await db.query<OrgRow>('SELECT id, name, status, created_at FROM orgs WHERE id = $1', [id]);
  return rows[0] ?? null;
}

/** `onlyIds` null = every org (platform roles); otherwise just those ids. Ordered by id (UUIDv7 = creation order). */
export async function listOrgs(
  db: Queryable,
  filter: { onlyIds: string[] | null; after: string | null; limit: number },
): Promise<OrgRow[]> {
  const { rows } = await db.query<OrgRow>(
    `SELECT id, name, status, created_at FROM orgs
      WHERE ($1::uuid[] IS NULL OR id = ANY($1::uuid[])) AND ($2::uuid IS NULL OR id > $2::uuid)
      ORDER BY id LIMIT $3`,
    [filter.onlyIds, filter.after, filter.limit],
  );
  return rows;
}
