// /v1/manage/users/:id/{disable,enable,platform-role}: whether an account may act at all, and its
// platform role. Both take effect on the account's next request (admin-auth.ts reads them each time).

import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import { writeAudit } from '../audit.ts';
import { canChangeUserStatus, canManagePlatformRoles, canSeeUser, removesLastPlatformOwner } from '../authz.ts';
import type { ApiSpec } from '../api-spec.ts';
import type { Database } from '../db.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { bumpManifestVersion } from '../sql/manifest.ts';
import { countOtherActivePlatformOwners, findUser, lockPlatformOwners, setPlatformRole, setUserStatus, type UserRow } from '../sql/users.ts';
import { parseJsonBody, pathUuid } from '../validation.ts';
import { presentUser } from './users.ts';

export const SetPlatformRole = z.strictObject({ role: z.enum(['taas_owner', 'taas_admin']).nullable() });

export const userAccessSpecs: ApiSpec[] = [
  { method: 'post', path: '/v1/manage/users/:id/disable', summary: 'Disable a user: their tokens and API keys stop working (platform staff; not yourself)', tag: 'users', access: 'admin', success: { status: 200, description: 'The user' } },
  { method: 'post', path: '/v1/manage/users/:id/enable', summary: 'Enable a disabled user (platform staff; not yourself)', tag: 'users', access: 'admin', success: { status: 200, description: 'The user' } },
  { method: 'put', path: '/v1/manage/users/:id/platform-role', summary: 'Set or clear a platform role (taas_owner only)', tag: 'users', access: 'admin', body: SetPlatformRole, success: { status: 200, description: 'The user' } },
];

const lastOwner = () => new ApiError('conflict', 'The last active taas_owner cannot be demoted or disabled.');

async function visibleUser(c: Context<AppEnv>, db: Database): Promise<UserRow> {
  const id = pathUuid(c, 'id', 'user');
  const user = canSeeUser(c.get('principal'), id) ? await findUser(db, id) : null;
  if (!user) throw new ApiError('not_found', 'No such user.');
  return user;
}

function statusChange(deps: { db: Database }, status: UserRow['status']) {
  return async (c: Context<AppEnv>) => {
    const principal = c.get('principal');
    const user = await visibleUser(c, deps.db);
    const allowed = (u: UserRow) => canChangeUserStatus(principal, { id: u.id, platformRole: u.platform_role });
    const denied = () => new ApiError('forbidden', 'You may not change this account: not your own, and a taas_owner only by a taas_owner.');
    if (!allowed(user)) throw denied();
    if (user.status === status) return c.json(presentUser(user));
    const changed = await deps.db.transaction(async (tx) => {
      await lockPlatformOwners(tx);
      const locked = (await findUser(tx, user.id, { forUpdate: true }))!;
      if (!allowed(locked)) throw denied(); // its platform role may have changed since the first read
      if (locked.status === status) return locked;
      if (status === 'disabled' && removesLastPlatformOwner({ current: locked.platform_role, next: null, otherActiveOwners: await countOtherActivePlatformOwners(tx, locked.id) })) {
        throw lastOwner();
      }
      const after = await setUserStatus(tx, locked.id, status);
      await writeAudit(tx, actorOf(c), {
        action: status === 'disabled' ? 'user.disable' : 'user.enable',
        targetType: 'user',
        targetId: locked.id,
        orgId: null,
        before: presentUser(locked),
        after: presentUser(after),
      });
      // Edges must drop (or take back) the API keys this user owns.
      await bumpManifestVersion(tx);
      return after;
    });
    return c.json(presentUser(changed));
  };
}

export function userAccessRoutes(deps: { db: Database }) {
  return new Hono<AppEnv>()
    .post('/:id/disable', statusChange(deps, 'disabled'))
    .post('/:id/enable', statusChange(deps, 'active'))
    .put('/:id/platform-role', async (c) => {
      const body = await parseJsonBody(c, SetPlatformRole);
      const user = await visibleUser(c, deps.db);
      if (!canManagePlatformRoles(c.get('principal'))) throw new ApiError('forbidden', 'Only a taas_owner manages platform roles.');
      if (user.platform_role === body.role) return c.json(presentUser(user));
      const changed = await deps.db.transaction(async (tx) => {
        await lockPlatformOwners(tx);
        const locked = (await findUser(tx, user.id, { forUpdate: true }))!;
        if (locked.platform_role === body.role) return locked;
        const others = await countOtherActivePlatformOwners(tx, locked.id);
        if (removesLastPlatformOwner({ current: locked.platform_role, next: body.role, otherActiveOwners: others })) throw lastOwner();
        const after = await setPlatformRole(tx, locked.id, body.role);
        await writeAudit(tx, actorOf(c), {
          action: 'user.platform_role',
          targetType: 'user',
          targetId: locked.id,
          orgId: null,
          before: presentUser(locked),
          after: presentUser(after),
        });
        return after;
      });
      return c.json(presentUser(changed));
    });
}
