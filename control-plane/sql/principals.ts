// Queries behind management-API authentication: users, their tokens and memberships.

import type { Queryable } from '../db.ts';

export type PlatformRole = 'taas_owner' | 'taas_admin';
export type OrgRole = 'org_owner' | 'org_admin' | 'user';

export type PrincipalRow = {
  token_id: string;
  user_id: string;
  platform_role: PlatformRole | null;
  /** True when last_used_at is unset or over a minute old: listings need only that resolution. */
  last_used_stale: boolean;
  memberships: { org_id: string; role: OrgRole }[];
};

/** The live principal behind a token hash: token unrevoked and unexpired, user active. */
export async function findPrincipalByTokenHash(db: Queryable, tokenHash: string): Promise<PrincipalRow | null> {
  const { rows } = await db.query<PrincipalRow>(
    `SELECT t.id AS token_id, u.id AS user_id, u.platform_role,
            (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute') AS last_used_stale,
            COALESCE((SELECT json_agg(json_build_object('org_id', m.org_id, 'role', m.role))
                        FROM org_members m WHERE m.user_id = u.id), '[]'::json) AS memberships
       FROM admin_tokens t JOIN users u ON u.id = t.user_id
      WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
        AND u.status = 'active'`,
    [tokenHash],
  );
  return rows[0] ?? null;
}

export async function insertUser(
  db: Queryable,
  user: { id: string; email: string; name: string; platformRole: PlatformRole | null },
): Promise<void> {
  await db.query('INSERT INTO users (id, email, name, platform_role) VALUES ($1, $2, $3, $4)', [
    user.id,
    user.email,
    user.name,
    user.platformRole,
  ]);
}

export async function insertAdminToken(
  db: Queryable,
  token: { id: string; userId: string; name: string; tokenHash: string; prefix: string },
): Promise<void> {
  await db.query('INSERT INTO admin_tokens (id, user_id, name, token_hash, prefix) VALUES ($1, $2, $3, $4, $5)', [
    token.id,
    token.userId,
    token.name,
    token.tokenHash,
    token.prefix,
  ]);
}

export async function countPlatformOwners(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM users WHERE platform_role = 'taas_owner'");
  return Number(rows[0]!.n);
}
