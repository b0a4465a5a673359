// KEK rotation without downtime: re-wraps each data key under the active KEK, one envelope per
// short transaction, while every replica still has the old KEK configured (so any envelope opens
// before, during and after). Only wrapped keys change; ciphertexts stay as they are.
// Idempotent: a re-run finds nothing left under another KEK and does nothing.

import { writeAudit, type Actor } from '../audit.ts';
import type { Database } from '../db.ts';
import { findSecretForUpdate, listSecretsNotUnder, updateSecretWrap } from '../sql/credential-secrets.ts';
import { rewrap } from './envelope.ts';
import type { Keyring } from './keyring.ts';
import { credentialAad } from './secret-store.ts';

export type RotationResult = {
  /** Envelopes re-wrapped by this run. */
  rewrapped: number;
  /** Envelopes under a KEK that is not configured here: add it to CREDENTIAL_KEKS and run again. */
  unknownKek: number;
  /** Envelopes still under another KEK when the run ended (written meanwhile, or unknown KEK). */
  remaining: number;
};

const ROTATION_ACTOR: Actor = { userId: null, tokenId: null, requestId: null, clientAddr: 'system:rotate-kek' };

export async function rotateKek(db: Database, keyring: Keyring, options: { maxRows?: number } = {}): Promise<RotationResult> {
  const pending = await listSecretsNotUnder(db, keyring.activeKekId);
  let rewrapped = 0;
  let unknownKek = 0;
  for (const { credential_id: credentialId, field } of pending.slice(0, options.maxRows ?? pending.length)) {
    const outcome = await db.transaction(async (tx) => {
      // Locked, so a concurrent OAuth refresh of the same field waits instead of being overwritten.
      const envelope = await findSecretForUpdate(tx, credentialId, field);
      if (!envelope || envelope.kekId === keyring.activeKekId) return 'skipped';
      if (!keyring.keks.has(envelope.kekId)) return 'unknown_kek';
      const rewrapped = await rewrap(keyring, envelope, credentialAad(credentialId, field));
      await updateSecretWrap(tx, credentialId, field, rewrapped);
      await writeAudit(tx, ROTATION_ACTOR, {
        action: 'credential.rewrap',
        targetType: 'supplier_credential',
        targetId: credentialId,
        orgId: null,
        before: { field, kek_id: envelope.kekId },
        after: { field, kek_id: rewrapped.kekId },
      });
      return 'rewrapped';
    });
    if (outcome === 'rewrapped') rewrapped++;
    if (outcome === 'unknown_kek') unknownKek++;
  }
  const remaining = (await listSecretsNotUnder(db, keyring.activeKekId)).length;
  return { rewrapped, unknownKek, remaining };
}
