// Who may do what: pure functions of a Principal, no I/O. Issue 3 widens this to the full
// five-role matrix; every route asks here instead of checking roles itself.

import type { Principal } from './admin-auth.ts';

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
