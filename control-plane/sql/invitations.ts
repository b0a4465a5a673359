// Queries on invitations to an org. Only the SHA-256 of an invitation token reaches them.

import type { Queryable } from '../db.ts';
import type { OrgRole } from './principals.ts';

export type InvitationRow = {
  id: string;
  org_id: string;
  email: string;
  role: OrgRole;
  invited_by: string;
  created_at: Date;
  expires_at: Date;
  accepted_at: Date | null;
  accepted_by: string | null;
  revoked_at: Date | null;
};

const COLUMNS = 'id, org_id, email, role, invited_by, created_at, expires_at, accepted_at, accepted_by, revoked_at';

export async function insertInvitation(
  db: Queryable,
  invitation: { id: string; orgId: string; email: string; role: OrgRole; tokenHash: string; invitedBy: string; expiresAt: Date },
): Promise<InvitationRow> {
  const { rows } = await db.query<InvitationRow>(
    `INSERT INTO invitations (id, org_id, email, role, token_hash, invited_by, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
    [invitation.id, invitation.orgId, invitation.email, invitation.role, invitation.tokenHash, invitation.invitedBy, invitation.expiresAt],
  );
  return rows[0]!;
}

export async function findInvitation(db: Queryable, id: string, options: { forUpdate?: boolean } = {}): Promise<InvitationRow | null> {
  const { rows } = await db.query<InvitationRow>(`SELECT ${COLUMNS} FROM invitations WHERE id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return rows[0] ?? null;
}

/** Row-locked: two accepts of one token run one after the other, and the second finds it used. */
export async function findInvitationByTokenHashForUpdate(db: Queryable, tokenHash: string): Promise<InvitationRow | null> {
  const { rows } = await db.query<InvitationRow>(`SELECT ${COLUMNS} FROM invitations WHERE token_hash = $1 FOR UPDATE`, [tokenHash]);
  return rows[0] ?? null;
}

/** An invitation to this org for this address that could still be accepted at `now`. */
export async function findOpenInvitation(db: Queryable, orgId: string, email: string, now: Date): Promise<InvitationRow | null> {
  const { rows } = await db.query<InvitationRow>(
    `SELECT ${COLUMNS} FROM invitations
      WHERE org_id = $1 AND lower(email) = lower($2) AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3
      LIMIT 1`,
    [orgId, email, now],
  );
  return rows[0] ?? null;
}

export async function listInvitations(db: Queryable, filter: { orgId: string; after: string | null; limit: number }): Promise<InvitationRow[]> {
  const { rows } = await db.query<InvitationRow>(
    `SELECT ${COLUMNS} FROM invitations
      WHERE org_id = $1 AND ($2::uuid IS NULL OR id > $2::uuid)
      ORDER BY id LIMIT $3`,
    [filter.orgId, filter.after, filter.limit],
  );
  return rows;
}

export async function revokeInvitation(db: Queryable, id: string): Promise<InvitationRow> {
  const { rows } = await db.query<InvitationRow>(`UPDATE invitations SET revoked_at = now() WHERE id = $1 RETURNING ${COLUMNS}`, [id]);
  return rows[0]!;
}

export async function markInvitationAccepted(db: Queryable, id: string, userId: string): Promise<InvitationRow> {
  const { rows } = await db.query<InvitationRow>(
    `UPDATE invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, userId],
  );
  return rows[0]!;
}
