// The credentials edges need, with their sealed secret: for every active supplier its default
// (the newest active credential) plus every active credential an active route pins.

import { toEnvelope, type EnvelopeColumns } from './credential-secrets.ts';
import type { Envelope } from '../credentials/envelope.ts';
import type { Queryable } from '../db.ts';

export type EdgeCredentialRow = {
  id: string;
  supplier_id: string;
  is_default: boolean;
  /** The at-rest envelope of the `secret` field (API key or OAuth access token). */
  envelope: Envelope;
};

type Row = EnvelopeColumns & { id: string; supplier_id: string; is_default: boolean };

// "Default" = newest (ids are UUIDv7, so the highest id): adding a credential makes it the one
// unpinned routes use, and retiring it falls back to the previous one, with no extra column.
export async function listEdgeCredentials(db: Queryable): Promise<EdgeCredentialRow[]> {
  const { rows } = await db.query<Row>(
    `WITH defaults AS (
       SELECT DISTINCT ON (c.supplier_id) c.id
         FROM supplier_credentials c JOIN suppliers s ON s.id = c.supplier_id
        WHERE c.status = 'active' AND s.status = 'active'
        ORDER BY c.supplier_id, c.id DESC
     ), pinned AS (
       SELECT DISTINCT r.credential_id AS id
         FROM model_routes r JOIN suppliers s ON s.id = r.supplier_id
        WHERE r.status = 'active' AND s.status = 'active' AND r.credential_id IS NOT NULL
     )
     SELECT c.id, c.supplier_id, c.id IN (SELECT id FROM defaults) AS is_default,
            e.kek_id, e.wrapped_key, e.wrap_iv, e.iv, e.ciphertext
       FROM supplier_credentials c
       JOIN credential_secrets e ON e.credential_id = c.id AND e.field = 'secret'
      WHERE c.status = 'active' AND (c.id IN (SELECT id FROM defaults) OR c.id IN (SELECT id FROM pinned))
      ORDER BY c.id`,
  );
  return rows.map((r) => ({
    id: r.id,
    supplier_id: r.supplier_id,
    is_default: r.is_default,
    envelope: toEnvelope(r),
  }));
}
