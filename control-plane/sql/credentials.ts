// Queries on supplier credentials: the non-secret part of each row. The secrets themselves are
// envelopes in credential_secrets (sql/credential-secrets.ts).

import type { Queryable } from '../db.ts';

export type CredentialKind = 'api_key' | 'oauth';

export type CredentialRow = {
  id: string;
  supplier_id: string;
  kind: CredentialKind;
  status: 'active' | 'retired';
  hint: string | null;
  token_url: string | null;
  client_id: string | null;
  access_token_expires_at: Date | null;
  refreshed_at: Date | null;
  created_at: Date;
  retired_at: Date | null;
};

const COLUMNS = `id, supplier_id, kind, status, hint, token_url, client_id, access_token_expires_at, refreshed_at,
                 created_at, retired_at`;

export async function insertCredential(
  db: Queryable,
  c: {
    id: string;
    supplierId: string;
    kind: CredentialKind;
    hint: string | null;
    oauth: { tokenUrl: string; clientId: string; accessTokenExpiresAt: string } | null;
  },
): Promise<CredentialRow> {
  const { rows } = await db.query<CredentialRow>(
    `INSERT INTO supplier_credentials (id, supplier_id, kind, hint, token_url, client_id, access_token_expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
    [c.id, c.supplierId, c.kind, c.hint, c.oauth?.tokenUrl ?? null, c.oauth?.clientId ?? null, c.oauth?.accessTokenExpiresAt ?? null],
  );
  return rows[0]!;
}

export async function findCredential(db: Queryable, id: string, options: { forUpdate?: boolean } = {}): Promise<CredentialRow | null> {
  const { rows } = await db.query<CredentialRow>(
    `SELECT ${COLUMNS} FROM supplier_credentials WHERE id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] ?? null;
}

export async function listCredentials(
  db: Queryable,
  filter: { supplierId: string; after: string | null; limit: number },
): Promise<CredentialRow[]> {
  const { rows } = await db.query<CredentialRow>(
    `SELECT ${COLUMNS} FROM supplier_credentials
      WHERE supplier_id = $1 AND ($2::uuid IS NULL OR id > $2::uuid)
      ORDER BY id LIMIT $3`,
    [filter.supplierId, filter.after, filter.limit],
  );
  return rows;
}

export async function retireCredential(db: Queryable, id: string): Promise<CredentialRow> {
  const { rows } = await db.query<CredentialRow>(
    `UPDATE supplier_credentials SET status = 'retired', retired_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
    [id],
  );
  return rows[0]!;
}

/** How many routes pin this credential (whatever their status): a pinned credential is not retired under them. */
export async function countRoutesPinning(db: Queryable, credentialId: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM model_routes WHERE credential_id = $1', [credentialId]);
  return Number(rows[0]!.n);
}

/**
 * Locks the next active OAuth credential whose access token expires before `dueBefore`, skipping
 * rows another refresher holds (FOR UPDATE SKIP LOCKED), so each grant is refreshed by exactly one
 * replica at a time: with refresh-token rotation, two concurrent refreshes would burn the grant.
 */
export async function lockDueOAuthCredential(db: Queryable, filter: { dueBefore: Date; skipIds: string[] }): Promise<CredentialRow | null> {
  const { rows } = await db.query<CredentialRow>(
    `SELECT ${COLUMNS} FROM supplier_credentials
      WHERE kind = 'oauth' AND status = 'active' AND access_token_expires_at < $1 AND NOT (id = ANY($2::uuid[]))
      ORDER BY access_token_expires_at, id LIMIT 1
      FOR UPDATE SKIP LOCKED`,
    [filter.dueBefore, filter.skipIds],
  );
  return rows[0] ?? null;
}

export async function recordOAuthRefresh(db: Queryable, id: string, accessTokenExpiresAt: Date): Promise<CredentialRow> {
  const { rows } = await db.query<CredentialRow>(
    `UPDATE supplier_credentials SET access_token_expires_at = $2, refreshed_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, accessTokenExpiresAt],
  );
  return rows[0]!;
}
