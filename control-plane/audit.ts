// The audit trail: every mutating admin action writes exactly one row, inside the transaction of
// the change itself, so a change without its row (or a row without its change) cannot commit.

import type { Queryable } from './db.ts';

export interface Actor {
  userId: string | null;
  tokenId: string | null;
  requestId: string | null;
  clientAddr: string | null;
}

export interface AuditEntry {
  action: string;
  targetType: string;
  targetId: string;
  orgId: string | null;
  before?: unknown;
  after?: unknown;
}

/** Fields never written to the audit log, whatever object is passed in. */
const SECRET_FIELDS = new Set([
  'key',
  'token',
  'key_hash',
  'token_hash',
  'secret',
  'password',
  'api_key',
  'access_token',
  'refresh_token',
  'client_secret',
]);

function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, SECRET_FIELDS.has(k) ? '[redacted]' : redact(v)]),
    );
  }
  return value;
}

export async function writeAudit(tx: Queryable, actor: Actor, entry: AuditEntry): Promise<void> {
  await tx.query(
    `INSERT INTO audit_log (actor_user_id, actor_token_id, org_id, action, target_type, target_id, before, after, request_id, client_addr)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      actor.userId,
      actor.tokenId,
      entry.orgId,
      entry.action,
      entry.targetType,
      entry.targetId,
      entry.before === undefined ? null : JSON.stringify(redact(entry.before)),
      entry.after === undefined ? null : JSON.stringify(redact(entry.after)),
      actor.requestId,
      actor.clientAddr,
    ],
  );
}
