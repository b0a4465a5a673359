// CREDENTIAL_KEKS / CREDENTIAL_KEK_ACTIVE and the refresher timings: parsed once at start, refused
// loudly when wrong, and never echoed in an error message.

import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadCredentialKeys } from '../../../control-plane/config.ts';
import { generateKekBase64 } from '../../../control-plane/credentials/keyring.ts';

const a = generateKekBase64();
const b = generateKekBase64();

describe('credential key configuration', () => {
  it('reads the KEKs and the active id, defaulting to the only key', () => {
    const one = loadCredentialKeys({ CREDENTIAL_KEKS: JSON.stringify({ 'kek-2026': a }) });
    expect(one?.activeKekId).toBe('kek-2026');
    expect(Buffer.from(one!.keks['kek-2026']!).toString('base64')).toBe(a);
    const two = loadCredentialKeys({ CREDENTIAL_KEKS: JSON.stringify({ old: a, new: b }), CREDENTIAL_KEK_ACTIVE: 'new' });
    expect([two?.activeKekId, Object.keys(two!.keks)]).toEqual(['new', ['old', 'new']]);
    expect(loadCredentialKeys({})).toBeNull();
  });

  it('refuses malformed settings without echoing a key', () => {
    const bad: Record<string, string>[] = [
      { CREDENTIAL_KEKS: '{not json' },
      { CREDENTIAL_KEKS: '{}' },
      { CREDENTIAL_KEKS: JSON.stringify([a]) },
      { CREDENTIAL_KEKS: JSON.stringify({ k: a.slice(0, 20) }) },
      { CREDENTIAL_KEKS: JSON.stringify({ k: Buffer.alloc(16).toString('base64') }) },
      { CREDENTIAL_KEKS: JSON.stringify({ 'bad id!': a }) },
      { CREDENTIAL_KEKS: JSON.stringify({ old: a, new: b }) },
      { CREDENTIAL_KEKS: JSON.stringify({ old: a }), CREDENTIAL_KEK_ACTIVE: 'new' },
      { CREDENTIAL_KEK_ACTIVE: 'new' },
    ];
    for (const env of bad) {
      expect(() => loadCredentialKeys(env), JSON.stringify(env)).toThrow(ConfigError);
      try {
        loadCredentialKeys(env);
      } catch (error) {
        expect((error as Error).message).not.toContain(a.slice(0, 20));
      }
    }
  });

  it('requires the refresh lead time to exceed the interval', () => {
    const base = { MANIFEST_SIGNING_KEY: JSON.stringify({ kty: 'OKP', crv: 'Ed25519', d: 'x', x: 'y', kid: 'k' }) };
    expect(loadConfig(base)).toMatchObject({ oauthRefreshLeadSeconds: 300, oauthRefreshIntervalSeconds: 60, credentialKeys: null });
    expect(() => loadConfig({ ...base, OAUTH_REFRESH_LEAD_SECONDS: '60', OAUTH_REFRESH_INTERVAL_SECONDS: '60' })).toThrow(ConfigError);
  });
});
