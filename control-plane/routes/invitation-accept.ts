// POST /v1/manage/invitations/accept: the invitation token becomes a membership. Mounted before
// admin authentication, because for a new address the token is the only credential there is.
//
// Security: the token alone may only create a *new* account. When an account with the invited
// address exists, accepting takes that account's own management token as well; otherwise whoever
// holds an invitation (its inviter, say) could mint a token for an existing user and reach their
// other orgs.

import { Hono } from 'hono';
import { z } from 'zod';
import { generateToken, hashToken, isWellFormedToken, tokenDisplayPrefix } from '../../shared/api-key.ts';
import { ApiError } from '../../shared/errors.ts';
import { uuidv7 } from '../../shared/ids.ts';
import { authenticate, unauthorized, type Principal } from '../admin-auth.ts';
import { writeAudit } from '../audit.ts';
import { canAssignOrgRole } from '../authz.ts';
import type { ApiSpec } from '../api-spec.ts';
import type { Database, Queryable } from '../db.ts';
import type { AppEnv } from '../request-context.ts';
import { findInvitationByTokenHashForUpdate, markInvitationAccepted, type InvitationRow } from '../sql/invitations.ts';
import { bumpManifestVersion } from '../sql/manifest.ts';
import { findMember, insertMember, lockOrgMemberships } from '../sql/members.ts';
import { insertToken, type TokenRow } from '../sql/tokens.ts';
import { findUser, findUserByEmail, insertUser, type UserRow } from '../sql/users.ts';
import { parseJsonBody } from '../validation.ts';
import { presentInvitation } from './invitations.ts';
import { presentMember } from './members.ts';
import { presentUser } from './users.ts';

export const AcceptInvitation = z.strictObject({
  token: z.string().max(100),
  /** The new account's display name; ignored when the account exists. */
  name: z.string().trim().max(200).optional(),
});

export const invitationAcceptSpecs: ApiSpec[] = [
  { method: 'post', path: '/v1/manage/invitations/accept', summary: "Accept an invitation. New address: no management token needed, answers the new account's first token once. Existing account: send its own management token.", tag: 'invitations', access: 'public', body: AcceptInvitation, success: { status: 200, description: 'The membership, the user, and `token` (new accounts only)' } },
];

/** One answer for unknown, expired, revoked and used tokens: a holder learns nothing about which. */
const unusable = () => new ApiError('not_found', 'No such invitation, or it can no longer be accepted.');

function isOpen(invitation: InvitationRow | null, now: Date): invitation is InvitationRow {
  return invitation !== null && !invitation.accepted_at && !invitation.revoked_at && invitation.expires_at.getTime() > now.getTime();
}

/**
 * Whether the inviter could still grant the invitation's role today. An invitation speaks for
 * whoever sent it: an admin removed from the org (or demoted, or disabled) must not be able to
 * come back through an invitation they minted while they could, and the token was answered to them.
 */
async function inviterStillMay(tx: Queryable, invitation: InvitationRow): Promise<boolean> {
  const inviter = await findUser(tx, invitation.invited_by);
  if (!inviter || inviter.status !== 'active') return false;
  const role = (await findMember(tx, invitation.org_id, inviter.id))?.role;
  const standing: Principal = { userId: inviter.id, tokenId: '', platformRole: inviter.platform_role, orgRoles: new Map(role ? [[invitation.org_id, role]] : []) };
  return canAssignOrgRole(standing, invitation.org_id, invitation.role);
}

/** The account the invitation lands in: the existing one (its owner must be the caller) or a new one. */
async function invitee(
  tx: Queryable,
  invitation: InvitationRow,
  caller: Principal | null,
  options: { name: string; newId: string },
): Promise<{ user: UserRow; created: boolean }> {
  const existing = await findUserByEmail(tx, invitation.email);
  if (!existing) {
    try {
      return { user: await insertUser(tx, { id: options.newId, email: invitation.email, name: options.name }), created: true };
    } catch (err) {
      // Two invitations for one new address accepted at the same instant: the second finds the
      // account taken by the first (unique violation) and must now accept as that account.
      if ((err as { code?: string }).code === '23505') throw new ApiError('conflict', 'An account with this address was just created: accept with its management token.');
      throw err;
    }
  }
  // Saying that the address has an account tells the holder of a valid invitation nothing they
  // could not guess: they hold an invitation for that very address.
  if (!caller) throw new ApiError('unauthorized', "An account with this address exists: accept with that account's management token.");
  if (caller.userId !== existing.id) throw new ApiError('forbidden', 'This invitation is for another account.');
  return { user: existing, created: false };
}

export function invitationAcceptRoutes(deps: { db: Database; now: () => Date }) {
  return new Hono<AppEnv>().post('/accept', async (c) => {
    const body = await parseJsonBody(c, AcceptInvitation);
    const authorization = c.req.header('authorization');
    const caller = authorization === undefined ? null : await authenticate(deps.db, authorization);
    // A token that was sent must be good: a bad one is refused, never silently ignored.
    if (authorization !== undefined && !caller) throw unauthorized();
    if (!isWellFormedToken('invitation', body.token)) throw unusable();
    const now = deps.now();
    const raw = generateToken('admin_token');
    const result = await deps.db.transaction(async (tx) => {
      const invitation = await findInvitationByTokenHashForUpdate(tx, await hashToken(body.token));
      if (!isOpen(invitation, now)) throw unusable();
      await lockOrgMemberships(tx, invitation.org_id);
      if (!(await inviterStillMay(tx, invitation))) throw unusable();
      const { user, created } = await invitee(tx, invitation, caller, { name: body.name ?? '', newId: uuidv7(now.getTime()) });
      if (await findMember(tx, invitation.org_id, user.id)) throw new ApiError('conflict', 'You are already a member of this org.');
      await insertMember(tx, { orgId: invitation.org_id, userId: user.id, role: invitation.role });
      const accepted = await markInvitationAccepted(tx, invitation.id, user.id);
      const member = (await findMember(tx, invitation.org_id, user.id))!;
      let token: TokenRow | null = null;
      if (created) {
        token = await insertToken(tx, { id: uuidv7(now.getTime()), userId: user.id, name: 'invitation', tokenHash: await hashToken(raw), prefix: tokenDisplayPrefix(raw), expiresAt: null });
      }
      await writeAudit(
        tx,
        { userId: user.id, tokenId: caller?.tokenId ?? null, requestId: c.get('requestId'), clientAddr: c.get('clientAddr') },
        {
          action: 'invitation.accept',
          targetType: 'invitation',
          targetId: invitation.id,
          orgId: invitation.org_id,
          before: presentInvitation(invitation, now),
          after: { invitation: presentInvitation(accepted, now), member: presentMember(member), created_user: created ? presentUser(user) : null, created_token_id: token?.id ?? null },
        },
      );
      // Membership decides which keys are live and their owner budget (sql/manifest.ts).
      await bumpManifestVersion(tx);
      return { accepted, member, user, token };
    });
    return c.json({
      object: 'invitation_acceptance' as const,
      invitation: presentInvitation(result.accepted, now),
      member: presentMember(result.member),
      user: presentUser(result.user),
      token: result.token ? raw : null,
    });
  });
}
