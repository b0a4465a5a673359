// Management-API authentication: a `tpat_` bearer token becomes a Principal, or one 401.

import type { MiddlewareHandler } from 'hono';
import { hashToken, isWellFormedToken } from '../shared/api-key.ts';
import { ApiError } from '../shared/errors.ts';
import type { Queryable } from './db.ts';
import type { AppEnv } from './request-context.ts';
import { findPrincipalByTokenHash, type OrgRole, type PlatformRole } from './sql/principals.ts';

export interface Principal {
  userId: string;
  tokenId: string;
  platformRole: PlatformRole | null;
  /** org id → role in that org. */
  orgRoles: ReadonlyMap<string, OrgRole>;
}

function bearer(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match ? match[1]! : null;
}

export function adminAuth(db: Queryable): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearer(c.req.header('authorization'));
    // One answer for missing, malformed, unknown, revoked and expired tokens: a prober learns nothing.
    const denied = new ApiError('unauthorized', 'Missing or invalid management token.');
    if (!token || !isWellFormedToken('admin_token', token)) throw denied;
    const row = await findPrincipalByTokenHash(db, await hashToken(token));
    if (!row) throw denied;
    c.set('principal', {
      userId: row.user_id,
      tokenId: row.token_id,
      platformRole: row.platform_role,
      orgRoles: new Map(row.memberships.map((m) => [m.org_id, m.role])),
    });
    await next();
  };
}
