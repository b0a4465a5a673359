// /v1/manage/orgs/:id/members: who belongs to an org, with their role and per-user limits (a
// budget and allowlists that every key they own stays within): list, change, remove.

import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import { Region } from '../../shared/manifest.ts';
import { microsToUsd } from '../../shared/money.ts';
import { writeAudit } from '../audit.ts';
import { canAssignOrgRole, canChangeMember, canManageMembers, canRemoveMember, canSeeMember, canSeeOrg, removesLastOrgOwner } from '../authz.ts';
import type { ApiSpec } from '../api-spec.ts';
import type { Database, Queryable } from '../db.ts';
import { mergeMemberFields, sameMemberFields, type MemberPatch } from '../member-limits.ts';
import { PageQuery, toPage } from '../pagination.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { bumpManifestVersion } from '../sql/manifest.ts';
import { countOtherActiveOrgOwners, deleteMember, findMember, listMembers, lockOrgMemberships, updateMember, type MemberFields, type MemberRow } from '../sql/members.ts';
import { revokeKeysOfOwner } from '../sql/keys.ts';
import { findOrg } from '../sql/orgs.ts';
import { BudgetPeriod, UsdAmount } from '../usd-amount.ts';
import { parseJsonBody, parseQuery, pathUuid } from '../validation.ts';

export const OrgRoleName = z.enum(['org_owner', 'org_admin', 'user']);
const Names = z.array(z.string().min(1).max(200)).max(100);

/** PATCH: only the fields given change; `budget_limit: null` clears the budget (and its period). */
export const UpdateMember = z.strictObject({
  role: OrgRoleName.optional(),
  budget_limit: UsdAmount.nullable().optional(),
  budget_period: BudgetPeriod.nullable().optional(),
  allowed_models: Names.optional(),
  allowed_regions: z.array(Region).max(3).optional(),
  allowed_suppliers: Names.optional(),
});

export const memberSpecs: ApiSpec[] = [
  { method: 'get', path: '/v1/manage/orgs/:id/members', summary: 'List the members of an org (a plain user sees only themself)', tag: 'members', access: 'admin', query: PageQuery, success: { status: 200, description: 'A page of members' } },
  { method: 'patch', path: '/v1/manage/orgs/:id/members/:userId', summary: "Change a member's role or per-user limits (org owners and admins; admins not owners)", tag: 'members', access: 'admin', body: UpdateMember, success: { status: 200, description: 'The member' } },
  { method: 'delete', path: '/v1/manage/orgs/:id/members/:userId', summary: 'Remove a member (or leave yourself); the last owner stays', tag: 'members', access: 'admin', success: { status: 204, description: 'Removed' } },
];

export function presentMember(member: MemberRow) {
  const micros = member.budget_limit_micros === null ? null : Number(member.budget_limit_micros);
  return {
    object: 'org_member' as const,
    org_id: member.org_id,
    user_id: member.user_id,
    email: member.email,
    name: member.name,
    user_status: member.status,
    role: member.role,
    budget_limit: micros === null ? null : microsToUsd(micros),
    budget_limit_micros: micros,
    budget_period: member.budget_period,
    allowed_models: member.allowed_models,
    allowed_regions: member.allowed_regions,
    allowed_suppliers: member.allowed_suppliers,
    created_at: member.created_at.toISOString(),
  };
}

const noSuchOrg = () => new ApiError('not_found', 'No such org.');
const noSuchMember = () => new ApiError('not_found', 'No such member.');
function merged(row: MemberRow, patch: MemberPatch): MemberFields {
  const result = mergeMemberFields(row, patch);
  if (!result.ok) throw new ApiError('validation_failed', result.message, { param: result.param });
  return result.fields;
}

const lastOwner = () => new ApiError('conflict', 'The last org_owner of an org cannot be removed or demoted.');

/** The member a path names, or 404 alike for a foreign org, a non-member and one the caller may not see. */
async function visibleMember(c: Context<AppEnv>, db: Queryable): Promise<{ orgId: string; userId: string; member: MemberRow }> {
  const principal = c.get('principal');
  const orgId = pathUuid(c, 'id', 'org');
  const userId = pathUuid(c, 'userId', 'member');
  if (!canSeeOrg(principal, orgId)) throw noSuchOrg();
  const member = canSeeMember(principal, orgId, userId) ? await findMember(db, orgId, userId) : null;
  if (!member) throw noSuchMember();
  return { orgId, userId, member };
}

export function memberRoutes(deps: { db: Database }) {
  return new Hono<AppEnv>()
    .get('/:id/members', async (c) => {
      const query = parseQuery(c, PageQuery);
      const principal = c.get('principal');
      const orgId = pathUuid(c, 'id', 'org');
      if (!canSeeOrg(principal, orgId) || !(await findOrg(deps.db, orgId))) throw noSuchOrg();
      const rows = await listMembers(deps.db, {
        orgId,
        onlyUserId: canManageMembers(principal, orgId) ? null : principal.userId,
        after: query.after ?? null,
        limit: query.limit + 1,
      });
      return c.json(toPage(rows.map((row) => ({ ...row, id: row.user_id })), query.limit, presentMember));
    })
    .patch('/:id/members/:userId', async (c) => {
      const body: MemberPatch = await parseJsonBody(c, UpdateMember);
      const principal = c.get('principal');
      const { orgId, userId, member } = await visibleMember(c, deps.db);
      const authorize = (current: MemberRow) => {
        if (!canChangeMember(principal, orgId, { userId, role: current.role })) {
          throw new ApiError('forbidden', userId === principal.userId ? 'Only an org_owner may change your own membership.' : 'You may not change this member.');
        }
        if (body.role && !canAssignOrgRole(principal, orgId, body.role)) {
          throw new ApiError('forbidden', 'You may not grant a role above your own.', { param: 'role' });
        }
      };
      authorize(member);
      if (sameMemberFields(member, merged(member, body))) return c.json(presentMember(member));
      const changed = await deps.db.transaction(async (tx) => {
        await lockOrgMemberships(tx, orgId);
        const locked = await findMember(tx, orgId, userId);
        if (!locked) throw noSuchMember();
        authorize(locked); // its role may have changed since the first read
        const next = merged(locked, body);
        if (sameMemberFields(locked, next)) return locked;
        if (removesLastOrgOwner({ current: locked.role, next: next.role, otherActiveOwners: await countOtherActiveOrgOwners(tx, orgId, userId) })) {
          throw lastOwner();
        }
        await updateMember(tx, orgId, userId, next);
        const after = (await findMember(tx, orgId, userId))!;
        await writeAudit(tx, actorOf(c), { action: 'member.update', targetType: 'org_member', targetId: userId, orgId, before: presentMember(locked), after: presentMember(after) });
        // Per-user limits travel in the manifest with the keys they bound.
        await bumpManifestVersion(tx);
        return after;
      });
      return c.json(presentMember(changed));
    })
    .delete('/:id/members/:userId', async (c) => {
      const principal = c.get('principal');
      const { orgId, userId, member } = await visibleMember(c, deps.db);
      const denied = () => new ApiError('forbidden', 'You may not remove this member.');
      if (!canRemoveMember(principal, orgId, { userId, role: member.role })) throw denied();
      await deps.db.transaction(async (tx) => {
        await lockOrgMemberships(tx, orgId);
        const locked = await findMember(tx, orgId, userId);
        if (!locked) throw noSuchMember();
        if (!canRemoveMember(principal, orgId, { userId, role: locked.role })) throw denied();
        if (removesLastOrgOwner({ current: locked.role, next: null, otherActiveOwners: await countOtherActiveOrgOwners(tx, orgId, userId) })) {
          throw lastOwner();
        }
        await deleteMember(tx, orgId, userId);
        // Their keys in this org are revoked, not merely hidden: rejoining later must not bring
        // old keys back to life. One audit row for the whole removal names them.
        const revokedKeys = await revokeKeysOfOwner(tx, orgId, userId);
        await writeAudit(tx, actorOf(c), {
          action: 'member.remove',
          targetType: 'org_member',
          targetId: userId,
          orgId,
          before: presentMember(locked),
          after: { revoked_api_keys: revokedKeys },
        });
        await bumpManifestVersion(tx);
      });
      return c.body(null, 204);
    });
}
