// Who may do what (PRODUCT.md §3): pure functions of a Principal and the target's facts, no I/O.
// Every route asks here instead of checking roles itself. Roles are read from the database on
// every request (admin-auth.ts), so a token never carries more than its user's current roles.
// Visibility and permission are separate questions: what a caller may not see answers 404 (as a
// missing object), what they see but may not change answers 403.

import type { Principal } from './admin-auth.ts';
import type { OrgRole, PlatformRole } from './sql/principals.ts';

const ORG_RANK: Record<OrgRole, number> = { user: 1, org_admin: 2, org_owner: 3 };

export function isPlatformStaff(p: Principal): boolean {
  return p.platformRole === 'taas_owner' || p.platformRole === 'taas_admin';
}

export function isPlatformOwner(p: Principal): boolean {
  return p.platformRole === 'taas_owner';
}

/** Whether the org exists for this principal at all; when false, answer 404 as for a missing org. */
export function canSeeOrg(p: Principal, orgId: string): boolean {
  return isPlatformStaff(p) || p.orgRoles.has(orgId);
}

/** Which keys of an org the principal manages: all of them, only their own, or none. */
export function keyScope(p: Principal, orgId: string): 'all' | 'own' | null {
  if (isPlatformStaff(p)) return 'all';
  const role = p.orgRoles.get(orgId);
  if (role === 'org_owner' || role === 'org_admin') return 'all';
  if (role === 'user') return 'own';
  return null;
}

/** The role the principal acts with in an org: platform staff act as org_owner everywhere. */
export function effectiveOrgRole(p: Principal, orgId: string): OrgRole | null {
  if (isPlatformStaff(p)) return 'org_owner';
  return p.orgRoles.get(orgId) ?? null;
}

function rank(role: OrgRole | null): number {
  return role === null ? 0 : ORG_RANK[role];
}

/** Org owners and admins (and platform staff) manage members and invitations; a `user` does not. */
export function canManageMembers(p: Principal, orgId: string): boolean {
  return rank(effectiveOrgRole(p, orgId)) >= ORG_RANK.org_admin;
}

/** Nobody grants a role above their own: an org_admin invites or assigns org_admin or user only. */
export function canAssignOrgRole(p: Principal, orgId: string, role: OrgRole): boolean {
  return canManageMembers(p, orgId) && ORG_RANK[role] <= rank(effectiveOrgRole(p, orgId));
}

/** Whether a member holding `targetRole` is within reach: an org_admin may not touch org_owners. */
export function canManageMember(p: Principal, orgId: string, targetRole: OrgRole): boolean {
  return canAssignOrgRole(p, orgId, targetRole);
}

/**
 * Changing a membership (role, budget, allowlists): a manager within reach, and one's own only as
 * an org_owner. An org_admin lifting their own per-user limits would grant themself more than an
 * owner gave them; they may still leave the org (canRemoveMember).
 */
export function canChangeMember(p: Principal, orgId: string, target: { userId: string; role: OrgRole }): boolean {
  if (!canManageMember(p, orgId, target.role)) return false;
  return target.userId !== p.userId || effectiveOrgRole(p, orgId) === 'org_owner';
}

/**
 * Changing (or rotating, or revoking) a key, given its owner's role in the key's org (null: no
 * owner, or one no longer a member). A `user` changes their own keys; managers change the keys
 * of members within their reach, so an org_admin may read an org_owner's keys but not change
 * them: a rotation would hand the admin the owner's new secret.
 */
export function canChangeKey(p: Principal, orgId: string, owner: { userId: string; role: OrgRole | null } | null): boolean {
  const scope = keyScope(p, orgId);
  if (scope === null) return false;
  if (scope === 'own') return owner?.userId === p.userId;
  if (!owner || owner.userId === p.userId || owner.role === null) return true;
  return canManageMember(p, orgId, owner.role);
}

/** A `user` sees only their own membership; managers see every member of the org. */
export function canSeeMember(p: Principal, orgId: string, userId: string): boolean {
  return canManageMembers(p, orgId) || (p.orgRoles.has(orgId) && userId === p.userId);
}

/** Anyone may leave an org themself; removing someone else takes a manager within reach. */
export function canRemoveMember(p: Principal, orgId: string, target: { userId: string; role: OrgRole }): boolean {
  return target.userId === p.userId || canManageMember(p, orgId, target.role);
}

/**
 * The last org_owner of an org can be neither removed (next = null) nor demoted. Only owners
 * with an active account count: an org left to disabled owners has nobody to run it.
 */
export function removesLastOrgOwner(change: { current: OrgRole; next: OrgRole | null; otherActiveOwners: number }): boolean {
  return change.current === 'org_owner' && change.next !== 'org_owner' && change.otherActiveOwners === 0;
}

/** Platform roles are managed only by a taas_owner. */
export function canManagePlatformRoles(p: Principal): boolean {
  return isPlatformOwner(p);
}

/** The last active taas_owner can be neither demoted nor disabled (next = null for either). */
export function removesLastPlatformOwner(change: { current: PlatformRole | null; next: PlatformRole | null; otherActiveOwners: number }): boolean {
  return change.current === 'taas_owner' && change.next !== 'taas_owner' && change.otherActiveOwners === 0;
}

/** Users other than oneself exist only for platform staff; everyone else gets 404. */
export function canSeeUser(p: Principal, userId: string): boolean {
  return isPlatformStaff(p) || userId === p.userId;
}

/** Platform staff manage user accounts; a taas_admin cannot manage a taas_owner (PRODUCT.md §3). */
export function canManageUser(p: Principal, target: { platformRole: PlatformRole | null }): boolean {
  return isPlatformStaff(p) && (target.platformRole !== 'taas_owner' || isPlatformOwner(p));
}

/** Disable or enable an account: a user within reach, and never oneself (no self-lockout). */
export function canChangeUserStatus(p: Principal, target: { id: string; platformRole: PlatformRole | null }): boolean {
  return target.id !== p.userId && canManageUser(p, target);
}

/** Another user's management tokens exist only for platform staff. */
export function canSeeTokensOf(p: Principal, userId: string): boolean {
  return canSeeUser(p, userId);
}

/** A management token: its own user revokes it; platform staff revoke any within reach. */
export function canRevokeToken(p: Principal, owner: { id: string; platformRole: PlatformRole | null }): boolean {
  return owner.id === p.userId || canManageUser(p, owner);
}
