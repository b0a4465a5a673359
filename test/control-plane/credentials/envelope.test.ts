// Envelope encryption on its own: round trip, and every kind of tampering or misplacement fails.

import { describe, expect, it } from 'vitest';
import { EnvelopeError, open, rewrap, seal, type Envelope } from '../../../control-plane/credentials/envelope.ts';
import { importKeyring, type Keyring } from '../../../control-plane/credentials/keyring.ts';

const random32 = () => crypto.getRandomValues(new Uint8Array(32));
const AAD = 'supplier_credentials:0190a000-0000-7000-8000-000000000001:secret';
const SECRET = 'sk-live-0123456789abcdefghij';

async function keyring(keks: Record<string, Uint8Array>, active: string): Promise<Keyring> {
  return importKeyring({ keks, activeKekId: active });
}

function flipped(bytes: Uint8Array<ArrayBuffer>, index = 0): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(bytes);
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof EnvelopeError) return error.failure;
    throw error;
  }
  throw new Error('expected the envelope not to open');
}

describe('credential envelope (AES-256-GCM, data key wrapped by a KEK)', () => {
  it('opens what it sealed, with a fresh data key and IVs every time', async () => {
    const keys = await keyring({ k1: random32() }, 'k1');
    const a = await seal(keys, SECRET, AAD);
    const b = await seal(keys, SECRET, AAD);
    expect(await open(keys, a, AAD)).toBe(SECRET);
    expect(a.kekId).toBe('k1');
    expect([a.iv.length, a.wrapIv.length, a.wrappedKey.length]).toEqual([12, 12, 48]);
    expect(Buffer.from(a.ciphertext).equals(Buffer.from(b.ciphertext))).toBe(false);
    expect(Buffer.from(a.wrappedKey).equals(Buffer.from(b.wrappedKey))).toBe(false);
    expect(Buffer.from(a.ciphertext).toString('latin1')).not.toContain(SECRET);
  });

  it('refuses a flipped bit in the ciphertext, its tag, the IV, the wrapped key or the wrap IV', async () => {
    const keys = await keyring({ k1: random32() }, 'k1');
    const sealed = await seal(keys, SECRET, AAD);
    const tampered: [string, Envelope, string][] = [
      ['ciphertext', { ...sealed, ciphertext: flipped(sealed.ciphertext) }, 'decrypt_failed'],
      ['tag', { ...sealed, ciphertext: flipped(sealed.ciphertext, sealed.ciphertext.length - 1) }, 'decrypt_failed'],
      ['iv', { ...sealed, iv: flipped(sealed.iv) }, 'decrypt_failed'],
      ['wrapped key', { ...sealed, wrappedKey: flipped(sealed.wrappedKey) }, 'unwrap_failed'],
      ['wrap iv', { ...sealed, wrapIv: flipped(sealed.wrapIv) }, 'unwrap_failed'],
    ];
    for (const [part, envelope, expected] of tampered) expect(await failure(open(keys, envelope, AAD)), part).toBe(expected);
  });

  it('refuses an envelope opened under another row or field (associated data)', async () => {
    const keys = await keyring({ k1: random32() }, 'k1');
    const sealed = await seal(keys, SECRET, AAD);
    expect(await failure(open(keys, sealed, AAD.replace(':secret', ':refresh_token')))).toBe('unwrap_failed');
    expect(await failure(open(keys, sealed, AAD.replace('0001:', '0002:')))).toBe('unwrap_failed');
    // Even with the right data key (wrapped part swapped back), the ciphertext is bound too.
    const other = await seal(keys, 'another-secret-value', 'supplier_credentials:x:secret');
    expect(await failure(open(keys, { ...sealed, iv: other.iv, ciphertext: other.ciphertext }, AAD))).toBe('decrypt_failed');
  });

  it('refuses the wrong KEK under the right id, and a KEK id that is not configured', async () => {
    const right = await keyring({ k1: random32() }, 'k1');
    const sealed = await seal(right, SECRET, AAD);
    expect(await failure(open(await keyring({ k1: random32() }, 'k1'), sealed, AAD))).toBe('unwrap_failed');
    expect(await failure(open(await keyring({ k2: random32() }, 'k2'), sealed, AAD))).toBe('unknown_kek');
  });

  it('re-wraps under the active KEK without touching the ciphertext', async () => {
    const k1 = random32();
    const k2 = random32();
    const old = await keyring({ k1 }, 'k1');
    const both = await keyring({ k1, k2 }, 'k2');
    const sealed = await seal(old, SECRET, AAD);
    const moved = await rewrap(both, sealed, AAD);
    expect(moved.kekId).toBe('k2');
    expect(Buffer.from(moved.ciphertext).equals(Buffer.from(sealed.ciphertext))).toBe(true);
    expect(await open(await keyring({ k2 }, 'k2'), moved, AAD)).toBe(SECRET);
    expect(await failure(open(old, moved, AAD))).toBe('unknown_kek');
    expect(await failure(rewrap(both, sealed, AAD.replace(':secret', ':client_secret')))).toBe('unwrap_failed');
  });
});
