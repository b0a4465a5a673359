import { CompactSign, SignJWT, base64url, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { MANIFEST_TYP, signManifest, verifyManifest, type ManifestPayload } from '../../shared/manifest.ts';

const NOW = 1_800_000_000;

function payload(overrides: Partial<ManifestPayload> = {}): ManifestPayload {
  return {
    format: 1,
    version: 7,
    key_shards: [],
    issued_at: NOW - 10,
    expires_at: NOW + 3600,
    keys: {
      ['a'.repeat(64)]: {
        id: '0190a000-0000-7000-8000-000000000001',
        org_id: '0190a000-0000-7000-8000-000000000002',
        owner_id: null,
        allowed_models: [],
        allowed_regions: ['EU'],
        allowed_suppliers: [],
        expires_at: null,
        budget: null,
        owner_budget: null,
        rate_limit_rpm: null,
        rate_limit_tpm: null,
      },
    },
    orgs: { '0190a000-0000-7000-8000-000000000002': { status: 'active' } },
    models: {},
    ...overrides,
  };
}

let signer: { kid: string; privateKey: CryptoKey };
let publicKeys: Record<string, CryptoKey>;
let other: { privateKey: CryptoKey };

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  signer = { kid: 'k1', privateKey: pair.privateKey };
  publicKeys = { k1: pair.publicKey };
  other = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
});

const encode = (value: unknown) => base64url.encode(JSON.stringify(value));

describe('manifest signing and verification', () => {
  it('accepts a manifest signed by a pinned key and returns its payload', async () => {
    const jws = await signManifest(payload(), signer);
    const result = await verifyManifest(jws, { publicKeys, nowSeconds: NOW });
    expect(result).toMatchObject({ ok: true, kid: 'k1', manifest: { version: 7 } });
  });

  it('refuses a manifest with one flipped byte in the payload', async () => {
    const jws = await signManifest(payload(), signer);
    const [h, p, s] = jws.split('.');
    const bytes = base64url.decode(p!);
    bytes[10] = bytes[10]! ^ 0x01;
    const result = await verifyManifest(`${h}.${base64url.encode(bytes)}.${s}`, { publicKeys, nowSeconds: NOW });
    expect(result).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses a manifest with one flipped byte in the signature', async () => {
    const jws = await signManifest(payload(), signer);
    const [h, p, s] = jws.split('.');
    const sig = base64url.decode(s!);
    sig[0] = sig[0]! ^ 0x80;
    expect(await verifyManifest(`${h}.${p}.${base64url.encode(sig)}`, { publicKeys, nowSeconds: NOW })).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it("refuses alg 'none' with an empty signature", async () => {
    const jws = `${encode({ alg: 'none', kid: 'k1', typ: MANIFEST_TYP })}.${encode(payload())}.`;
    expect(await verifyManifest(jws, { publicKeys, nowSeconds: NOW })).toEqual({ ok: false, reason: 'bad_header' });
  });

  it('refuses an HMAC signature made with the public key as the secret', async () => {
    const publicJwk = await exportJWK(publicKeys.k1!);
    const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
    const forged = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload())))
      .setProtectedHeader({ alg: 'HS256', kid: 'k1', typ: MANIFEST_TYP })
      .sign(secret);
    expect(await verifyManifest(forged, { publicKeys, nowSeconds: NOW })).toEqual({ ok: false, reason: 'bad_header' });
  });

  it('refuses the EdDSA header smuggled onto an HMAC signature', async () => {
    const publicJwk = await exportJWK(publicKeys.k1!);
    const hmac = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload())))
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(publicJwk.x!));
    const [, p, s] = hmac.split('.');
    const smuggled = `${encode({ alg: 'EdDSA', kid: 'k1', typ: MANIFEST_TYP })}.${p}.${s}`;
    expect(await verifyManifest(smuggled, { publicKeys, nowSeconds: NOW })).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses a wrong typ even when the signature is valid', async () => {
    const jwt = await new SignJWT({ ...payload() }).setProtectedHeader({ alg: 'EdDSA', kid: 'k1', typ: 'JWT' }).sign(signer.privateKey);
    expect(await verifyManifest(jwt, { publicKeys, nowSeconds: NOW })).toEqual({ ok: false, reason: 'bad_header' });
  });

  it('refuses a manifest signed by a key that is not pinned, even under a pinned kid', async () => {
    const jws = await signManifest(payload(), { kid: 'k1', privateKey: other.privateKey });
    expect(await verifyManifest(jws, { publicKeys, nowSeconds: NOW })).toEqual({ ok: false, reason: 'bad_signature' });
    const unknownKid = await signManifest(payload(), { kid: 'k9', privateKey: other.privateKey });
    expect(await verifyManifest(unknownKid, { publicKeys, nowSeconds: NOW })).toEqual({ ok: false, reason: 'unknown_kid' });
  });

  it('refuses a lower version than the one held, and an older issue of the same version', async () => {
    const jws = await signManifest(payload({ version: 6 }), signer);
    const held = { version: 7, issued_at: NOW - 10 };
    expect(await verifyManifest(jws, { publicKeys, nowSeconds: NOW, current: held })).toEqual({ ok: false, reason: 'older_version' });
    const older = await signManifest(payload({ version: 7, issued_at: NOW - 20 }), signer);
    expect(await verifyManifest(older, { publicKeys, nowSeconds: NOW, current: held })).toEqual({ ok: false, reason: 'older_version' });
    const reissued = await signManifest(payload({ version: 7, issued_at: NOW - 5 }), signer);
    expect((await verifyManifest(reissued, { publicKeys, nowSeconds: NOW, current: held })).ok).toBe(true);
  });

  it('refuses an expired manifest', async () => {
    const jws = await signManifest(payload({ expires_at: NOW }), signer);
    expect(await verifyManifest(jws, { publicKeys, nowSeconds: NOW })).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses an oversized manifest before parsing it', async () => {
    const jws = await signManifest(payload(), signer);
    expect(await verifyManifest(jws, { publicKeys, nowSeconds: NOW, maxBytes: jws.length - 1 })).toEqual({ ok: false, reason: 'too_large' });
    expect(await verifyManifest('x'.repeat(100), { publicKeys, nowSeconds: NOW, maxBytes: 50 })).toEqual({ ok: false, reason: 'too_large' });
  });

  it('refuses a validly signed payload of the wrong shape, and garbage', async () => {
    const bad = await new CompactSign(new TextEncoder().encode(JSON.stringify({ version: 'seven' })))
      .setProtectedHeader({ alg: 'EdDSA', kid: 'k1', typ: MANIFEST_TYP })
      .sign(signer.privateKey);
    expect(await verifyManifest(bad, { publicKeys, nowSeconds: NOW })).toEqual({ ok: false, reason: 'bad_payload' });
    expect(await verifyManifest('not-a-jws', { publicKeys, nowSeconds: NOW })).toEqual({ ok: false, reason: 'malformed' });
  });

  it('accepts a manifest from a control plane that does not send the newer key fields yet', async () => {
    const { budget: _b, owner_budget: _o, rate_limit_rpm: _r, rate_limit_tpm: _t, ...older } = payload().keys['a'.repeat(64)]!;
    const jws = await signManifest({ ...payload(), keys: { ['a'.repeat(64)]: older } } as ManifestPayload, signer);
    const result = await verifyManifest(jws, { publicKeys, nowSeconds: NOW });
    if (!result.ok) throw new Error(result.reason);
    expect(result.manifest.keys['a'.repeat(64)]).toMatchObject({ budget: null, owner_budget: null, rate_limit_rpm: null, rate_limit_tpm: null });
  });
});
