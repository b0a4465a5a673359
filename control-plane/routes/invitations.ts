// /v1/manage/orgs/:id/invitations and /v1/manage/invitations/:id/revoke: invite an address to an
// org with a role (the one-time token is in the creation response only), list, revoke.
// Accepting is in invitation-accept.ts: it is the one route reachable without a management token.

import { Hono } from 'hono';
import { z } from 'zod';
import { generateToken, hashToken } from '../../shared/api-key.ts';
import { ApiError } from '../../shared/errors.ts';
import { uuidv7 } from '../../shared/ids.ts';
import { writeAudit } from '../audit.ts';
import { canAssignOrgRole, canManageMembers, canSeeOrg } from '../authz.ts';
import type { ApiSpec } from '../api-spec.ts';
import type { Database } from '../db.ts';
import { PageQuery, toPage } from '../pagination.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { findInvitation, findOpenInvitation, insertInvitation, listInvitations, revokeInvitation, type InvitationRow } from '../sql/invitations.ts';
import { findMember } from '../sql/members.ts';
import { findOrg } from '../sql/orgs.ts';
import { findUserByEmail } from '../sql/users.ts';
import { parseJsonBody, parseQuery, pathUuid } from '../validation.ts';
import { OrgRoleName } from './members.ts';
import { Email } from './users.ts';

export const CreateInvitation = z.strictObject({
  email: Email,
  role: OrgRoleName,
  expires_in_hours: z.number().int().min(1).max(720).default(168),
});

export const invitationSpecs: ApiSpec[] = [
  { method: 'post', path: '/v1/manage/orgs/:id/invitations', summary: 'Invite an email address to an org with a role no higher than your own; the token is in this response only', tag: 'invitations', access: 'admin', body: CreateInvitation, success: { status: 201, description: 'The invitation, with `token` shown once' } },
  { method: 'get', path: '/v1/manage/orgs/:id/invitations', summary: 'List the invitations of an org (org owners and admins)', tag: 'invitations', access: 'admin', query: PageQuery, success: { status: 200, description: 'A page of invitations' } },
  { method: 'post', path: '/v1/manage/invitations/:id/revoke', summary: 'Revoke a pending invitation (idempotent)', tag: 'invitations', access: 'admin', success: { status: 200, description: 'The revoked invitation' } },
];

export function presentInvitation(invitation: InvitationRow, now: Date) {
  const status = invitation.accepted_at
    ? ('accepted' as const)
    : invitation.revoked_at
      ? ('revoked' as const)
      : invitation.expires_at.getTime() <= now.getTime()
        ? ('expired' as const)
        : ('pending' as const);
  return {
    object: 'invitation' as const,
    id: invitation.id,
    org_id: invitation.org_id,
    email: invitation.email,
    role: invitation.role,
    status,
    invited_by: invitation.invited_by,
    created_at: invitation.created_at.toISOString(),
    expires_at: invitation.expires_at.toISOString(),
    accepted_at: invitation.accepted_at?.toISOString() ?? null,
    accepted_by: invitation.accepted_by,
    revoked_at: invitation.revoked_at?.toISOString() ?? null,
  };
}

const noSuchOrg = () => new ApiError('not_found', 'No such org.');
const noSuchInvitation = () => new ApiError('not_found', 'No such invitation.');
const cannotManage = () => new ApiError('forbidden', 'Only org owners and admins manage invitations.');

export function invitationRoutes(deps: { db: Database; now: () => Date }) {
  return new Hono<AppEnv>()
    .post('/orgs/:id/invitations', async (c) => {
      const body = await parseJsonBody(c, CreateInvitation);
      const principal = c.get('principal');
      const orgId = pathUuid(c, 'id', 'org');
      if (!canSeeOrg(principal, orgId)) throw noSuchOrg();
      if (!canManageMembers(principal, orgId)) throw cannotManage();
      if (!canAssignOrgRole(principal, orgId, body.role)) throw new ApiError('forbidden', 'You may not grant a role above your own.', { param: 'role' });
      const now = deps.now();
      const raw = generateToken('invitation');
      const created = await deps.db.transaction(async (tx) => {
        if (!(await findOrg(tx, orgId))) throw noSuchOrg();
        const existing = await findUserByEmail(tx, body.email);
        if (existing && (await findMember(tx, orgId, existing.id))) throw new ApiError('conflict', 'This address already belongs to a member.', { param: 'email' });
        if (await findOpenInvitation(tx, orgId, body.email, now)) {
          throw new ApiError('conflict', 'A pending invitation for this address exists; revoke it first.', { param: 'email' });
        }
        const invitation = await insertInvitation(tx, {
          id: uuidv7(now.getTime()),
          orgId,
          email: body.email,
          role: body.role,
          tokenHash: await hashToken(raw),
          invitedBy: principal.userId,
          expiresAt: new Date(now.getTime() + body.expires_in_hours * 3_600_000),
        });
        await writeAudit(tx, actorOf(c), { action: 'invitation.create', targetType: 'invitation', targetId: invitation.id, orgId, after: presentInvitation(invitation, now) });
        return invitation;
      });
      return c.json({ ...presentInvitation(created, now), token: raw }, 201);
    })
    .get('/orgs/:id/invitations', async (c) => {
      const query = parseQuery(c, PageQuery);
      const principal = c.get('principal');
      const orgId = pathUuid(c, 'id', 'org');
      if (!canSeeOrg(principal, orgId) || !(await findOrg(deps.db, orgId))) throw noSuchOrg();
      if (!canManageMembers(principal, orgId)) throw cannotManage();
      const rows = await listInvitations(deps.db, { orgId, after: query.after ?? null, limit: query.limit + 1 });
      return c.json(toPage(rows, query.limit, (row) => presentInvitation(row, deps.now())));
    })
    .post('/invitations/:id/revoke', async (c) => {
      const principal = c.get('principal');
      const invitation = await findInvitation(deps.db, pathUuid(c, 'id', 'invitation'));
      // Invitations exist only for those who manage the org's members: the same 404 as a missing one.
      if (!invitation || !canManageMembers(principal, invitation.org_id)) throw noSuchInvitation();
      if (!canAssignOrgRole(principal, invitation.org_id, invitation.role)) throw new ApiError('forbidden', 'You may not revoke an invitation to a role above your own.');
      if (invitation.revoked_at) return c.json(presentInvitation(invitation, deps.now()));
      if (invitation.accepted_at) throw new ApiError('conflict', 'This invitation was already accepted; remove the member instead.');
      const revoked = await deps.db.transaction(async (tx) => {
        const locked = (await findInvitation(tx, invitation.id, { forUpdate: true }))!;
        if (locked.revoked_at) return locked;
        if (locked.accepted_at) throw new ApiError('conflict', 'This invitation was already accepted; remove the member instead.');
        const after = await revokeInvitation(tx, locked.id);
        const now = deps.now();
        await writeAudit(tx, actorOf(c), {
          action: 'invitation.revoke',
          targetType: 'invitation',
          targetId: locked.id,
          orgId: locked.org_id,
          before: presentInvitation(locked, now),
          after: presentInvitation(after, now),
        });
        return after;
      });
      return c.json(presentInvitation(revoked, deps.now()));
    });
}
