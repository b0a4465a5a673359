// AES-256-GCM envelope encryption of one secret (PRODUCT.md §6; ARCHITECTURE.md "Credentials"):
// a fresh random data key per secret encrypts it, and a key-encryption key (KEK) from
// configuration wraps the data key. Both layers authenticate the same associated data (the row
// and field the secret belongs to), so an envelope, or any part of one, moved to another row or
// field fails to open. WebCrypto only; the raw data key never exists as bytes in JS memory.

import type { webcrypto } from 'node:crypto';
import type { Keyring } from './keyring.ts';

type CryptoKey = webcrypto.CryptoKey;

type Bytes = Uint8Array<ArrayBuffer>;

export type Envelope = {
  kekId: string;
  /** The data key under the KEK (AES-GCM, 32 bytes + 16-byte tag). */
  wrappedKey: Bytes;
  wrapIv: Bytes;
  iv: Bytes;
  /** The secret under the data key, GCM tag appended. */
  ciphertext: Bytes;
};

export type EnvelopeFailure = 'unknown_kek' | 'unwrap_failed' | 'decrypt_failed';

/** A tampered, misplaced or foreign envelope, or a KEK that is not (or no longer) configured. */
export class EnvelopeError extends Error {
  override name = 'EnvelopeError';
  readonly failure: EnvelopeFailure;

  constructor(failure: EnvelopeFailure, message: string) {
    super(message);
    this.failure = failure;
  }
}

// 96-bit random IVs (NIST SP 800-38D §8.2.2). A data key encrypts exactly one message, and each
// KEK wraps far fewer than the 2^32 keys that bound random IVs under one key.
const IV_BYTES = 12;

function gcm(iv: Bytes, associatedData: Bytes): webcrypto.AesGcmParams {
  return { name: 'AES-GCM', iv, additionalData: associatedData, tagLength: 128 };
}

const randomIv = (): Bytes => crypto.getRandomValues(new Uint8Array(IV_BYTES));
const utf8 = (text: string): Bytes => new TextEncoder().encode(text) as Bytes;

async function wrap(keyring: Keyring, dataKey: CryptoKey, aad: Bytes): Promise<Pick<Envelope, 'kekId' | 'wrappedKey' | 'wrapIv'>> {
  const kek = keyring.keks.get(keyring.activeKekId);
  if (!kek) throw new EnvelopeError('unknown_kek', `The active KEK '${keyring.activeKekId}' is not configured.`);
  const wrapIv = randomIv();
  const wrappedKey = new Uint8Array(await crypto.subtle.wrapKey('raw', dataKey, kek, gcm(wrapIv, aad)));
  return { kekId: keyring.activeKekId, wrappedKey, wrapIv };
}

async function unwrap(keyring: Keyring, envelope: Envelope, aad: Bytes, options: { extractable: boolean }): Promise<CryptoKey> {
  const kek = keyring.keks.get(envelope.kekId);
  if (!kek) throw new EnvelopeError('unknown_kek', `KEK '${envelope.kekId}' is not configured.`);
  try {
    return await crypto.subtle.unwrapKey('raw', envelope.wrappedKey, kek, gcm(envelope.wrapIv, aad), { name: 'AES-GCM' }, options.extractable, [
      'decrypt',
    ]);
  } catch {
    throw new EnvelopeError('unwrap_failed', 'The data key does not unwrap: wrong KEK, tampered wrapped key, or another row\'s envelope.');
  }
}

export async function seal(keyring: Keyring, plaintext: string, associatedData: string): Promise<Envelope> {
  const aad = utf8(associatedData);
  // Extractable only so that it can be wrapped; it is never exported as raw bytes.
  const dataKey = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']);
  const iv = randomIv();
  const ciphertext = new Uint8Array(await crypto.subtle.encrypt(gcm(iv, aad), dataKey, utf8(plaintext)));
  return { ...(await wrap(keyring, dataKey, aad)), iv, ciphertext };
}

export async function open(keyring: Keyring, envelope: Envelope, associatedData: string): Promise<string> {
  const aad = utf8(associatedData);
  const dataKey = await unwrap(keyring, envelope, aad, { extractable: false });
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(await crypto.subtle.decrypt(gcm(envelope.iv, aad), dataKey, envelope.ciphertext));
  } catch {
    throw new EnvelopeError('decrypt_failed', 'The secret does not decrypt: tampered ciphertext or IV, or another row\'s envelope.');
  }
}

/** The same secret under the active KEK: only the data key is re-wrapped; the ciphertext is untouched. */
export async function rewrap(keyring: Keyring, envelope: Envelope, associatedData: string): Promise<Envelope> {
  const aad = utf8(associatedData);
  const dataKey = await unwrap(keyring, envelope, aad, { extractable: true });
  return { ...envelope, ...(await wrap(keyring, dataKey, aad)) };
}
