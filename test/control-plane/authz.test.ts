// The role rules of PRODUCT.md §3 as pure functions: every route asks these, so they are checked
// here case by case, and again through the API in the identity tests.

import { describe, expect, it } from 'vitest';
import type { Principal } from '../../control-plane/admin-auth.ts';
import {
  canAssignOrgRole,
  canChangeUserStatus,
  canChangeKey,
  canChangeMember,
  canManageMember,
  canManageMembers,
  canManagePlatformRoles,
  canManageUser,
  canRemoveMember,
  canRevokeToken,
  canSeeMember,
  canSeeOrg,
  canSeeUser,
  effectiveOrgRole,
  keyScope,
  removesLastOrgOwner,
  removesLastPlatformOwner,
} from '../../control-plane/authz.ts';
import type { OrgRole, PlatformRole } from '../../control-plane/sql/principals.ts';

const ORG = 'org-a';
const OTHER = 'org-b';

function who(userId: string, options: { platform?: PlatformRole; role?: OrgRole } = {}): Principal {
  return {
    userId,
    tokenId: `token-${userId}`,
    platformRole: options.platform ?? null,
    orgRoles: new Map(options.role ? [[ORG, options.role]] : []),
  };
}

const taasOwner = who('taas-owner', { platform: 'taas_owner' });
const taasAdmin = who('taas-admin', { platform: 'taas_admin' });
const orgOwner = who('org-owner', { role: 'org_owner' });
const orgAdmin = who('org-admin', { role: 'org_admin' });
const user = who('user', { role: 'user' });
const outsider = who('outsider');

describe('org roles', () => {
  it('lets platform staff act as org_owner in every org, and nobody else outside their org', () => {
    expect(effectiveOrgRole(taasOwner, OTHER)).toBe('org_owner');
    expect(effectiveOrgRole(taasAdmin, OTHER)).toBe('org_owner');
    expect(effectiveOrgRole(orgOwner, ORG)).toBe('org_owner');
    expect(effectiveOrgRole(orgOwner, OTHER)).toBeNull();
    expect(canSeeOrg(orgAdmin, OTHER)).toBe(false);
    expect(canSeeOrg(taasAdmin, OTHER)).toBe(true);
  });

  it('lets nobody grant an org role above their own', () => {
    const grants = (p: Principal) => (['org_owner', 'org_admin', 'user'] as const).filter((role) => canAssignOrgRole(p, ORG, role));
    expect(grants(taasAdmin)).toEqual(['org_owner', 'org_admin', 'user']);
    expect(grants(orgOwner)).toEqual(['org_owner', 'org_admin', 'user']);
    expect(grants(orgAdmin)).toEqual(['org_admin', 'user']);
    expect(grants(user)).toEqual([]);
    expect(grants(outsider)).toEqual([]);
  });

  it('keeps org admins away from org owners, and plain users away from everyone', () => {
    expect(canManageMember(orgAdmin, ORG, 'org_owner')).toBe(false);
    expect(canManageMember(orgAdmin, ORG, 'org_admin')).toBe(true);
    expect(canManageMember(orgOwner, ORG, 'org_owner')).toBe(true);
    expect(canManageMember(user, ORG, 'user')).toBe(false);
    expect(canManageMembers(user, ORG)).toBe(false);
    expect(canManageMembers(orgAdmin, OTHER)).toBe(false);
  });

  it('lets nobody but an owner change their own membership', () => {
    expect(canChangeMember(orgAdmin, ORG, { userId: 'org-admin', role: 'org_admin' })).toBe(false);
    expect(canChangeMember(orgAdmin, ORG, { userId: 'other-admin', role: 'org_admin' })).toBe(true);
    expect(canChangeMember(orgOwner, ORG, { userId: 'org-owner', role: 'org_owner' })).toBe(true);
    expect(canChangeMember(user, ORG, { userId: 'user', role: 'user' })).toBe(false);
    expect(canChangeMember(taasAdmin, ORG, { userId: 'org-owner', role: 'org_owner' })).toBe(true);
  });

  it("keeps org admins' hands off org owners' keys, and users on their own", () => {
    expect(canChangeKey(orgAdmin, ORG, { userId: 'org-owner', role: 'org_owner' })).toBe(false);
    expect(canChangeKey(orgAdmin, ORG, { userId: 'someone', role: 'user' })).toBe(true);
    expect(canChangeKey(orgAdmin, ORG, { userId: 'org-admin', role: 'org_admin' })).toBe(true);
    expect(canChangeKey(orgAdmin, ORG, null)).toBe(true);
    expect(canChangeKey(orgOwner, ORG, { userId: 'another-owner', role: 'org_owner' })).toBe(true);
    expect(canChangeKey(taasAdmin, ORG, { userId: 'org-owner', role: 'org_owner' })).toBe(true);
    expect(canChangeKey(user, ORG, { userId: 'user', role: 'user' })).toBe(true);
    expect(canChangeKey(user, ORG, { userId: 'someone', role: 'user' })).toBe(false);
    expect(canChangeKey(user, ORG, null)).toBe(false);
    expect(canChangeKey(orgAdmin, OTHER, null)).toBe(false);
  });

  it('lets anyone leave an org themself, and only managers within reach remove others', () => {
    expect(canRemoveMember(user, ORG, { userId: 'user', role: 'user' })).toBe(true);
    expect(canRemoveMember(user, ORG, { userId: 'someone', role: 'user' })).toBe(false);
    expect(canRemoveMember(orgAdmin, ORG, { userId: 'org-owner', role: 'org_owner' })).toBe(false);
    expect(canRemoveMember(orgAdmin, ORG, { userId: 'someone', role: 'user' })).toBe(true);
    expect(canRemoveMember(taasAdmin, ORG, { userId: 'org-owner', role: 'org_owner' })).toBe(true);
  });

  it('shows a plain user only their own membership', () => {
    expect(canSeeMember(user, ORG, 'user')).toBe(true);
    expect(canSeeMember(user, ORG, 'org-owner')).toBe(false);
    expect(canSeeMember(orgAdmin, ORG, 'org-owner')).toBe(true);
    expect(canSeeMember(outsider, ORG, 'outsider')).toBe(false);
  });

  it('never removes or demotes the last active org owner', () => {
    expect(removesLastOrgOwner({ current: 'org_owner', next: null, otherActiveOwners: 0 })).toBe(true);
    expect(removesLastOrgOwner({ current: 'org_owner', next: 'org_admin', otherActiveOwners: 0 })).toBe(true);
    expect(removesLastOrgOwner({ current: 'org_owner', next: 'org_owner', otherActiveOwners: 0 })).toBe(false);
    expect(removesLastOrgOwner({ current: 'org_owner', next: null, otherActiveOwners: 1 })).toBe(false);
    expect(removesLastOrgOwner({ current: 'org_admin', next: null, otherActiveOwners: 0 })).toBe(false);
  });

  it('keeps the meaning of key scopes: staff and managers all keys, a user their own', () => {
    expect(keyScope(taasAdmin, OTHER)).toBe('all');
    expect(keyScope(orgAdmin, ORG)).toBe('all');
    expect(keyScope(user, ORG)).toBe('own');
    expect(keyScope(user, OTHER)).toBeNull();
  });
});

describe('platform roles and accounts', () => {
  it('lets only a taas_owner manage platform roles', () => {
    expect(canManagePlatformRoles(taasOwner)).toBe(true);
    expect(canManagePlatformRoles(taasAdmin)).toBe(false);
    expect(canManagePlatformRoles(orgOwner)).toBe(false);
  });

  it('never demotes or disables the last active taas_owner', () => {
    expect(removesLastPlatformOwner({ current: 'taas_owner', next: null, otherActiveOwners: 0 })).toBe(true);
    expect(removesLastPlatformOwner({ current: 'taas_owner', next: 'taas_admin', otherActiveOwners: 0 })).toBe(true);
    expect(removesLastPlatformOwner({ current: 'taas_owner', next: 'taas_admin', otherActiveOwners: 1 })).toBe(false);
    expect(removesLastPlatformOwner({ current: 'taas_admin', next: null, otherActiveOwners: 0 })).toBe(false);
  });

  it('lets platform staff manage accounts, a taas_admin no taas_owner, and nobody disable themself', () => {
    expect(canManageUser(taasAdmin, { platformRole: 'taas_owner' })).toBe(false);
    expect(canManageUser(taasAdmin, { platformRole: 'taas_admin' })).toBe(true);
    expect(canManageUser(taasOwner, { platformRole: 'taas_owner' })).toBe(true);
    expect(canManageUser(orgOwner, { platformRole: null })).toBe(false);
    expect(canChangeUserStatus(taasOwner, { id: 'taas-owner', platformRole: 'taas_owner' })).toBe(false);
    expect(canChangeUserStatus(taasAdmin, { id: 'taas-admin', platformRole: 'taas_admin' })).toBe(false);
    expect(canChangeUserStatus(taasAdmin, { id: 'user', platformRole: null })).toBe(true);
  });

  it('shows other accounts only to platform staff', () => {
    expect(canSeeUser(orgOwner, 'user')).toBe(false);
    expect(canSeeUser(orgOwner, 'org-owner')).toBe(true);
    expect(canSeeUser(taasAdmin, 'user')).toBe(true);
  });

  it('lets a user revoke their own tokens, and staff those of anyone within reach', () => {
    expect(canRevokeToken(user, { id: 'user', platformRole: null })).toBe(true);
    expect(canRevokeToken(orgOwner, { id: 'user', platformRole: null })).toBe(false);
    expect(canRevokeToken(taasAdmin, { id: 'user', platformRole: null })).toBe(true);
    expect(canRevokeToken(taasAdmin, { id: 'taas-owner', platformRole: 'taas_owner' })).toBe(false);
    expect(canRevokeToken(taasOwner, { id: 'other-owner', platformRole: 'taas_owner' })).toBe(true);
  });
});
