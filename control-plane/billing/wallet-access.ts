// Who may do what with an org's wallet: a pure policy, no I/O. Org owners and admins read it;
// org owners pay top-ups and set the alert threshold; only platform staff move money by hand
// (refunds, adjustments). Platform staff act as org_owner everywhere (authz.ts). As elsewhere, an
// org the caller cannot see answers 404, one they see but may not act on answers 403.

import { ApiError } from '../../shared/errors.ts';
import type { Principal } from '../admin-auth.ts';
import { canSeeOrg, effectiveOrgRole, isPlatformStaff } from '../authz.ts';

export type WalletAction = 'read' | 'topup' | 'configure' | 'adjust';

export type WalletAccess = { ok: true } | { ok: false; denial: 'not_found' | 'forbidden' };

function allowed(p: Principal, orgId: string, action: WalletAction): boolean {
  const role = effectiveOrgRole(p, orgId);
  switch (action) {
    case 'read':
      return role === 'org_owner' || role === 'org_admin';
    case 'topup':
    case 'configure':
      return role === 'org_owner';
    case 'adjust':
      return isPlatformStaff(p);
  }
}

export function walletAccess(p: Principal, orgId: string, action: WalletAction): WalletAccess {
  if (!canSeeOrg(p, orgId)) return { ok: false, denial: 'not_found' };
  return allowed(p, orgId, action) ? { ok: true } : { ok: false, denial: 'forbidden' };
}

const FORBIDDEN: Record<WalletAction, string> = {
  read: "Only the org's owners and admins read its wallet.",
  topup: "Only the org's owners top up its wallet.",
  configure: "Only the org's owners change its wallet settings.",
  adjust: 'Only platform administrators refund or adjust a wallet.',
};

export function requireWallet(p: Principal, orgId: string, action: WalletAction): void {
  const access = walletAccess(p, orgId, action);
  if (access.ok) return;
  throw access.denial === 'not_found' ? new ApiError('not_found', 'No such org.') : new ApiError('forbidden', FORBIDDEN[action]);
}
