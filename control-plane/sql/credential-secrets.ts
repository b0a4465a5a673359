// Queries on credential_secrets: one AES-GCM envelope per (credential, field). Only ciphertext
// and wrapped keys ever reach these functions (control-plane/credentials/secret-store.ts seals).

import type { Queryable } from '../db.ts';
import type { Envelope } from '../credentials/envelope.ts';

export type SecretField = 'secret' | 'refresh_token' | 'client_secret';

/** The envelope columns of a credential_secrets row, as the driver returns them. */
export type EnvelopeColumns = {
  kek_id: string;
  wrapped_key: Uint8Array;
  wrap_iv: Uint8Array;
  iv: Uint8Array;
  ciphertext: Uint8Array;
};

type SecretRow = EnvelopeColumns & { field: SecretField };

// bytea arrives as a Buffer (a view on a shared pool); copy into a plain ArrayBuffer-backed array.
const bytes = (value: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(value);

export function toEnvelope(row: EnvelopeColumns): Envelope {
  return { kekId: row.kek_id, wrappedKey: bytes(row.wrapped_key), wrapIv: bytes(row.wrap_iv), iv: bytes(row.iv), ciphertext: bytes(row.ciphertext) };
}

/** Inserts or replaces the envelope of one field (a refreshed OAuth token replaces the old one). */
export async function upsertSecret(db: Queryable, credentialId: string, field: SecretField, envelope: Envelope): Promise<void> {
  await db.query(
    `INSERT INTO credential_secrets (credential_id, field, kek_id, wrapped_key, wrap_iv, iv, ciphertext)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (credential_id, field) DO UPDATE SET kek_id = EXCLUDED.kek_id, wrapped_key = EXCLUDED.wrapped_key,
       wrap_iv = EXCLUDED.wrap_iv, iv = EXCLUDED.iv, ciphertext = EXCLUDED.ciphertext, updated_at = now()`,
    [credentialId, field, envelope.kekId, Buffer.from(envelope.wrappedKey), Buffer.from(envelope.wrapIv), Buffer.from(envelope.iv), Buffer.from(envelope.ciphertext)],
  );
}

export async function listSecrets(db: Queryable, credentialId: string): Promise<Map<SecretField, Envelope>> {
  const { rows } = await db.query<SecretRow>(
    'SELECT field, kek_id, wrapped_key, wrap_iv, iv, ciphertext FROM credential_secrets WHERE credential_id = $1',
    [credentialId],
  );
  return new Map(rows.map((r) => [r.field, toEnvelope(r)]));
}

export async function findSecretForUpdate(db: Queryable, credentialId: string, field: SecretField): Promise<Envelope | null> {
  const { rows } = await db.query<SecretRow>(
    `SELECT field, kek_id, wrapped_key, wrap_iv, iv, ciphertext FROM credential_secrets
      WHERE credential_id = $1 AND field = $2 FOR UPDATE`,
    [credentialId, field],
  );
  return rows[0] ? toEnvelope(rows[0]) : null;
}

/** Retiring a credential destroys its secrets: nothing is kept that could still leak. */
export async function deleteSecrets(db: Queryable, credentialId: string): Promise<void> {
  await db.query('DELETE FROM credential_secrets WHERE credential_id = $1', [credentialId]);
}

/** The envelopes whose data key is wrapped by another KEK than `kekId`: what a rotation must re-wrap. */
export async function listSecretsNotUnder(db: Queryable, kekId: string): Promise<{ credential_id: string; field: SecretField; kek_id: string }[]> {
  const { rows } = await db.query<{ credential_id: string; field: SecretField; kek_id: string }>(
    'SELECT credential_id, field, kek_id FROM credential_secrets WHERE kek_id <> $1 ORDER BY credential_id, field',
    [kekId],
  );
  return rows;
}

/** Re-wrap of one envelope's data key; the ciphertext and its IV are untouched. */
export async function updateSecretWrap(db: Queryable, credentialId: string, field: SecretField, envelope: Envelope): Promise<void> {
  await db.query(
    `UPDATE credential_secrets SET kek_id = $3, wrapped_key = $4, wrap_iv = $5, updated_at = now()
      WHERE credential_id = $1 AND field = $2`,
    [credentialId, field, envelope.kekId, Buffer.from(envelope.wrappedKey), Buffer.from(envelope.wrapIv)],
  );
}
