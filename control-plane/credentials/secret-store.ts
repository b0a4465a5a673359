// A credential's secret fields, sealed into and opened from credential_secrets. The associated
// data names the row and the field, so an envelope copied to another credential or field fails.

import type { Queryable } from '../db.ts';
import { listSecrets, upsertSecret, type SecretField } from '../sql/credential-secrets.ts';
import { open, seal } from './envelope.ts';
import type { Keyring } from './keyring.ts';

export function credentialAad(credentialId: string, field: SecretField): string {
  return `supplier_credentials:${credentialId}:${field}`;
}

export async function sealSecret(tx: Queryable, keyring: Keyring, credentialId: string, field: SecretField, plaintext: string): Promise<void> {
  await upsertSecret(tx, credentialId, field, await seal(keyring, plaintext, credentialAad(credentialId, field)));
}

/** Every stored field of a credential, decrypted; throws EnvelopeError when any fails to open. */
export async function openSecrets(db: Queryable, keyring: Keyring, credentialId: string): Promise<Partial<Record<SecretField, string>>> {
  const opened: Partial<Record<SecretField, string>> = {};
  for (const [field, envelope] of await listSecrets(db, credentialId)) {
    opened[field] = await open(keyring, envelope, credentialAad(credentialId, field));
  }
  return opened;
}
