// Whose audit rows a principal may read: a pure policy, no I/O. Platform staff read every row;
// org owners and admins read the rows of the orgs they administer; nobody else reads any.

import type { Principal } from './admin-auth.ts';
import { canSeeOrg, isPlatformStaff } from './authz.ts';

export type AuditScope =
  /** orgIds null: every row, including those of no org (platform actions). */
  | { ok: true; orgIds: readonly string[] | null }
  | { ok: false; denial: 'forbidden' | 'not_found' };

const AUDIT_READERS: ReadonlySet<string> = new Set(['org_owner', 'org_admin']);

export function auditScope(p: Principal, orgId: string | undefined): AuditScope {
  if (isPlatformStaff(p)) return { ok: true, orgIds: orgId === undefined ? null : [orgId] };
  const administered = [...p.orgRoles].filter(([, role]) => AUDIT_READERS.has(role)).map(([id]) => id);
  // A member with no admin role anywhere may not read the log at all: one 403, whatever it asks.
  if (administered.length === 0) return { ok: false, denial: 'forbidden' };
  if (orgId === undefined) return { ok: true, orgIds: administered };
  // Another tenant's org answers like a missing one; a plain member of this one is refused.
  if (!canSeeOrg(p, orgId)) return { ok: false, denial: 'not_found' };
  return administered.includes(orgId) ? { ok: true, orgIds: [orgId] } : { ok: false, denial: 'forbidden' };
}
