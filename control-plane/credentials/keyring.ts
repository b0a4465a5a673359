// The key-encryption keys (KEKs) that wrap credential data keys, imported once from configuration
// as non-extractable WebCrypto keys that can only wrap and unwrap (never encrypt data directly).

import type { webcrypto } from 'node:crypto';
import type { CredentialKeyConfig } from '../config.ts';

type CryptoKey = webcrypto.CryptoKey;

export type Keyring = {
  /** The KEK that wraps every new (or re-wrapped) data key. */
  activeKekId: string;
  /** Every configured KEK by id: the active one and those whose data keys are not re-wrapped yet. */
  keks: ReadonlyMap<string, CryptoKey>;
};

export async function importKeyring(config: CredentialKeyConfig): Promise<Keyring> {
  const keks = new Map<string, CryptoKey>();
  for (const [id, bytes] of Object.entries(config.keks)) {
    keks.set(id, await crypto.subtle.importKey('raw', new Uint8Array(bytes), { name: 'AES-GCM' }, false, ['wrapKey', 'unwrapKey']));
  }
  if (!keks.has(config.activeKekId)) throw new Error(`importKeyring: the active KEK '${config.activeKekId}' is not configured`);
  return { activeKekId: config.activeKekId, keks };
}

/** A new random 256-bit KEK as base64, the form CREDENTIAL_KEKS takes (npm start, tests). */
export function generateKekBase64(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64');
}
