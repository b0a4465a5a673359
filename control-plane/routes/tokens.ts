// /v1/manage/tokens: the caller's own management tokens (personal access tokens): create (the raw
// token is in this one response only), list, revoke. A token carries no roles of its own: the
// user's current roles are read on every request.

import { Hono } from 'hono';
import { z } from 'zod';
import { generateToken, hashToken, tokenDisplayPrefix } from '../../shared/api-key.ts';
import { ApiError } from '../../shared/errors.ts';
import { uuidv7 } from '../../shared/ids.ts';
import { writeAudit } from '../audit.ts';
import { canRevokeToken, canSeeTokensOf } from '../authz.ts';
import type { ApiSpec } from '../api-spec.ts';
import type { Database } from '../db.ts';
import { PageQuery, toPage } from '../pagination.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { findToken, insertToken, listTokens, revokeToken, type TokenRow } from '../sql/tokens.ts';
import { findUser } from '../sql/users.ts';
import { parseJsonBody, parseQuery, pathUuid } from '../validation.ts';
import { isoTimestamp } from '../../shared/timestamp.ts';

export const CreateToken = z.strictObject({
  name: z.string().trim().min(1).max(200),
  expires_at: isoTimestamp({ offset: true }).optional(),
});

export const tokenSpecs: ApiSpec[] = [
  { method: 'post', path: '/v1/manage/tokens', summary: 'Create a management token for yourself; the raw token is in this response only', tag: 'tokens', access: 'admin', body: CreateToken, success: { status: 201, description: 'The token, with `token` shown once' } },
  { method: 'get', path: '/v1/manage/tokens', summary: 'List your own management tokens (prefix only)', tag: 'tokens', access: 'admin', query: PageQuery, success: { status: 200, description: 'A page of tokens' } },
  { method: 'post', path: '/v1/manage/tokens/:id/revoke', summary: 'Revoke a management token: your own, or (platform staff) any within reach; idempotent', tag: 'tokens', access: 'admin', success: { status: 200, description: 'The revoked token' } },
];

export function presentToken(token: TokenRow, now: Date) {
  const expired = token.expires_at !== null && token.expires_at.getTime() <= now.getTime();
  return {
    object: 'management_token' as const,
    id: token.id,
    user_id: token.user_id,
    name: token.name,
    prefix: token.prefix,
    status: token.revoked_at ? ('revoked' as const) : expired ? ('expired' as const) : ('active' as const),
    created_at: token.created_at.toISOString(),
    expires_at: token.expires_at?.toISOString() ?? null,
    last_used_at: token.last_used_at?.toISOString() ?? null,
    revoked_at: token.revoked_at?.toISOString() ?? null,
  };
}

export function tokenRoutes(deps: { db: Database; now: () => Date }) {
  return new Hono<AppEnv>()
    .post('/', async (c) => {
      const body = await parseJsonBody(c, CreateToken);
      const principal = c.get('principal');
      if (body.expires_at && Date.parse(body.expires_at) <= deps.now().getTime()) {
        throw new ApiError('validation_failed', "Invalid value for 'expires_at': must be in the future.", { param: 'expires_at' });
      }
      const raw = generateToken('admin_token');
      const row = await deps.db.transaction(async (tx) => {
        const created = await insertToken(tx, {
          id: uuidv7(deps.now().getTime()),
          userId: principal.userId,
          name: body.name,
          tokenHash: await hashToken(raw),
          prefix: tokenDisplayPrefix(raw),
          expiresAt: body.expires_at ?? null,
        });
        const after = presentToken(created, deps.now());
        await writeAudit(tx, actorOf(c), { action: 'admin_token.create', targetType: 'admin_token', targetId: created.id, orgId: null, after });
        return created;
      });
      return c.json({ ...presentToken(row, deps.now()), token: raw }, 201);
    })
    .get('/', async (c) => {
      const query = parseQuery(c, PageQuery);
      const rows = await listTokens(deps.db, { userId: c.get('principal').userId, after: query.after ?? null, limit: query.limit + 1 });
      return c.json(toPage(rows, query.limit, (row) => presentToken(row, deps.now())));
    })
    .post('/:id/revoke', async (c) => {
      const principal = c.get('principal');
      const token = await findToken(deps.db, pathUuid(c, 'id', 'management token'));
      // Another user's token exists only for platform staff: the same 404 as a missing one.
      if (!token || !canSeeTokensOf(principal, token.user_id)) throw new ApiError('not_found', 'No such management token.');
      const owner = await findUser(deps.db, token.user_id);
      if (!owner || !canRevokeToken(principal, { id: owner.id, platformRole: owner.platform_role })) {
        throw new ApiError('forbidden', "Only a taas_owner revokes a taas_owner's tokens.");
      }
      // Revoking a revoked token changes nothing: no audit row.
      if (token.revoked_at) return c.json(presentToken(token, deps.now()));
      const revoked = await deps.db.transaction(async (tx) => {
        const locked = await findToken(tx, token.id, { forUpdate: true });
        if (!locked || locked.revoked_at) return locked ?? token;
        const after = await revokeToken(tx, token.id);
        await writeAudit(tx, actorOf(c), {
          action: 'admin_token.revoke',
          targetType: 'admin_token',
          targetId: token.id,
          orgId: null,
          before: presentToken(locked, deps.now()),
          after: presentToken(after, deps.now()),
        });
        return after;
      });
      return c.json(presentToken(revoked, deps.now()));
    });
}
