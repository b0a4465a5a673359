// Management-API authentication: a `tpat_` bearer token becomes a Principal, or one 401.
// The principal (user status, platform role, memberships) is read from the database on every
// request, so disabling a user or removing a membership takes effect on the next request.

import type { MiddlewareHandler } from 'hono';
import { hashToken, isWellFormedToken } from '../shared/api-key.ts';
import { ApiError } from '../shared/errors.ts';
import type { Queryable } from './db.ts';
import type { AppEnv } from './request-context.ts';
import { findPrincipalByTokenHash, type OrgRole, type PlatformRole } from './sql/principals.ts';
import { touchTokenLastUsed } from './sql/tokens.ts';

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

/** The live principal behind an Authorization header, or null for any kind of bad token. */
export async function authenticate(db: Queryable, authorization: string | undefined): Promise<Principal | null> {
  const token = bearer(authorization);
  if (!token || !isWellFormedToken('admin_token', token)) return null;
  const row = await findPrincipalByTokenHash(db, await hashToken(token));
  if (!row) return null;
  // Bookkeeping for token listings, written at most once a minute per token, not on every call.
  if (row.last_used_stale) await touchTokenLastUsed(db, row.token_id);
  return {
    userId: row.user_id,
    tokenId: row.token_id,
    platformRole: row.platform_role,
    orgRoles: new Map(row.memberships.map((m) => [m.org_id, m.role])),
  };
}

/** One answer for missing, malformed, unknown, revoked and expired tokens: a prober learns nothing. */
export function unauthorized(): ApiError {
  return new ApiError('unauthorized', 'Missing or invalid management token.');
}

export function adminAuth(db: Queryable): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = await authenticate(db, c.req.header('authorization'));
    if (!principal) throw unauthorized();
    c.set('principal', principal);
    await next();
  };
}
