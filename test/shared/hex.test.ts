import { describe, expect, it } from 'vitest';
import { hashToken } from '../../shared/api-key.ts';
import { toHex } from '../../shared/hex.ts';
import { uuidv7 } from '../../shared/ids.ts';

describe('hex', () => {
  it('writes every byte value as two lowercase digits, in order', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(toHex(all)).toBe(Buffer.from(all).toString('hex'));
    expect(toHex(new Uint8Array([]))).toBe('');
  });

  it('gives key hashes and ids their known shapes', async () => {
    // SHA-256 of "abc" (FIPS 180-2 test vector).
    expect(await hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(uuidv7(Date.UTC(2026, 0, 1))).toMatch(/^019b76da-a800-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
