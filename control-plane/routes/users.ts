// /v1/manage/users: who you are (`/me`), and user accounts for platform staff: create (with a
// first management token, shown once), list, read. Status and platform role: user-access.ts.

import { Hono } from 'hono';
import { z } from 'zod';
import { generateToken, hashToken, tokenDisplayPrefix } from '../../shared/api-key.ts';
import { ApiError } from '../../shared/errors.ts';
import { uuidv7 } from '../../shared/ids.ts';
import { writeAudit } from '../audit.ts';
import { canSeeUser, isPlatformStaff } from '../authz.ts';
import type { ApiSpec } from '../api-spec.ts';
import type { Database, Queryable } from '../db.ts';
import { PageQuery, toPage } from '../pagination.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { insertToken } from '../sql/tokens.ts';
import { findUser, findUserByEmail, insertUser, listUserMemberships, listUsers, type UserRow } from '../sql/users.ts';
import { parseJsonBody, parseQuery, pathUuid } from '../validation.ts';
import { presentToken } from './tokens.ts';

/** An email address, kept lower-case: accounts and invitations match by address whatever its case. */
export const Email = z.email().max(320).transform((email) => email.toLowerCase());

export const CreateUser = z.strictObject({
  email: Email,
  name: z.string().trim().max(200).default(''),
});

export const userSpecs: ApiSpec[] = [
  { method: 'get', path: '/v1/manage/users/me', summary: 'The caller: account, platform role and memberships', tag: 'users', access: 'admin', success: { status: 200, description: 'The user with memberships' } },
  { method: 'post', path: '/v1/manage/users', summary: 'Create a user (platform staff); a first management token is in this response only', tag: 'users', access: 'admin', body: CreateUser, success: { status: 201, description: 'The user, with `token` shown once' } },
  { method: 'get', path: '/v1/manage/users', summary: 'List users (platform staff)', tag: 'users', access: 'admin', query: PageQuery, success: { status: 200, description: 'A page of users' } },
  { method: 'get', path: '/v1/manage/users/:id', summary: 'Read a user with memberships (platform staff, or yourself)', tag: 'users', access: 'admin', success: { status: 200, description: 'The user with memberships' } },
];

export function presentUser(user: UserRow) {
  return {
    object: 'user' as const,
    id: user.id,
    email: user.email,
    name: user.name,
    status: user.status,
    platform_role: user.platform_role,
    created_at: user.created_at.toISOString(),
  };
}

async function withMemberships(db: Queryable, user: UserRow) {
  const memberships = await listUserMemberships(db, user.id);
  return { ...presentUser(user), memberships: memberships.map((m) => ({ org_id: m.org_id, org_name: m.org_name, role: m.role })) };
}

export function userRoutes(deps: { db: Database; now: () => Date }) {
  return new Hono<AppEnv>()
    .get('/me', async (c) => {
      const me = await findUser(deps.db, c.get('principal').userId);
      if (!me) throw new ApiError('not_found', 'No such user.');
      return c.json(await withMemberships(deps.db, me));
    })
    .post('/', async (c) => {
      const body = await parseJsonBody(c, CreateUser);
      if (!isPlatformStaff(c.get('principal'))) throw new ApiError('forbidden', 'Only platform staff create users.');
      const raw = generateToken('admin_token');
      const created = await deps.db.transaction(async (tx) => {
        if (await findUserByEmail(tx, body.email)) throw new ApiError('conflict', 'A user with this email exists.', { param: 'email' });
        const user = await insertUser(tx, { id: uuidv7(deps.now().getTime()), email: body.email, name: body.name });
        const token = await insertToken(tx, {
          id: uuidv7(deps.now().getTime()),
          userId: user.id,
          name: 'initial',
          tokenHash: await hashToken(raw),
          prefix: tokenDisplayPrefix(raw),
          expiresAt: null,
        });
        await writeAudit(tx, actorOf(c), {
          action: 'user.create',
          targetType: 'user',
          targetId: user.id,
          orgId: null,
          after: { ...presentUser(user), initial_token: presentToken(token, deps.now()) },
        });
        return { user, token };
      });
      return c.json({ ...presentUser(created.user), token: raw, token_id: created.token.id }, 201);
    })
    .get('/', async (c) => {
      const query = parseQuery(c, PageQuery);
      if (!isPlatformStaff(c.get('principal'))) throw new ApiError('forbidden', 'Only platform staff list users.');
      const rows = await listUsers(deps.db, { after: query.after ?? null, limit: query.limit + 1 });
      return c.json(toPage(rows, query.limit, presentUser));
    })
    .get('/:id', async (c) => {
      const id = pathUuid(c, 'id', 'user');
      // Other users exist only for platform staff: the same 404 as a missing one.
      const user = canSeeUser(c.get('principal'), id) ? await findUser(deps.db, id) : null;
      if (!user) throw new ApiError('not_found', 'No such user.');
      return c.json(await withMemberships(deps.db, user));
    });
}
