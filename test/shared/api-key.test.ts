import { describe, expect, it } from 'vitest';
import { generateToken, hashToken, isWellFormedToken, tokenDisplayPrefix } from '../../shared/api-key.ts';

describe('API key format', () => {
  it('mints taas_ keys of 43 characters that pass their own checksum', () => {
    for (let i = 0; i < 200; i++) {
      const key = generateToken('api_key');
      expect(key).toMatch(/^taas_[0-9A-Za-z]{38}$/);
      expect(isWellFormedToken('api_key', key)).toBe(true);
    }
  });

  it('never mints the same key twice in 10,000 draws', () => {
    const keys = new Set(Array.from({ length: 10_000 }, () => generateToken('api_key')));
    expect(keys.size).toBe(10_000);
  });

  it('recognises a one-character typo anywhere in the random part by its checksum', () => {
    const key = generateToken('api_key');
    let caught = 0;
    for (let i = 5; i < key.length; i++) {
      const replacement = key[i] === 'a' ? 'b' : 'a';
      if (!isWellFormedToken('api_key', key.slice(0, i) + replacement + key.slice(i + 1))) caught++;
    }
    expect(caught).toBe(key.length - 5);
  });

  it('tells API keys and management tokens apart', () => {
    const pat = generateToken('admin_token');
    expect(pat.startsWith('tpat_')).toBe(true);
    expect(isWellFormedToken('admin_token', pat)).toBe(true);
    expect(isWellFormedToken('api_key', pat)).toBe(false);
    expect(isWellFormedToken('api_key', 'taas_')).toBe(false);
    expect(isWellFormedToken('api_key', `taas_${'a'.repeat(38)} `)).toBe(false);
  });

  it('shows only a short prefix and stores only a SHA-256 hex digest', async () => {
    const key = generateToken('api_key');
    expect(tokenDisplayPrefix(key)).toBe(key.slice(0, 13));
    const hash = await hashToken(key);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).toBe(await hashToken(key));
    expect(hash).not.toBe(await hashToken(generateToken('api_key')));
  });

  it('hashes a known input to its published SHA-256', async () => {
    expect(await hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
