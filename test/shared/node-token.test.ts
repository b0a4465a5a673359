import { SignJWT, generateKeyPair, type CryptoKey } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { NODE_TOKEN_TYP, signNodeToken, verifyNodeToken } from '../../shared/node-token.ts';

const NOW = 1_800_000_000;
let node: { publicKey: CryptoKey; privateKey: CryptoKey };
let stranger: { privateKey: CryptoKey };
const lookup = async (id: string) => (id === 'edge-1' ? node.publicKey : null);

beforeAll(async () => {
  node = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  stranger = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
});

describe('node API tokens', () => {
  it('verifies a fresh token of a registered node', async () => {
    const token = await signNodeToken('edge-1', node.privateKey, { nowSeconds: NOW });
    expect(await verifyNodeToken(token, lookup, { nowSeconds: NOW + 10 })).toEqual({ ok: true, nodeId: 'edge-1' });
  });

  it('refuses an expired token, an unknown node and a token signed by another key', async () => {
    const token = await signNodeToken('edge-1', node.privateKey, { nowSeconds: NOW, lifetimeSeconds: 60 });
    expect(await verifyNodeToken(token, lookup, { nowSeconds: NOW + 200 })).toEqual({ ok: false });
    const unknown = await signNodeToken('edge-2', node.privateKey, { nowSeconds: NOW });
    expect(await verifyNodeToken(unknown, lookup, { nowSeconds: NOW })).toEqual({ ok: false });
    const forged = await signNodeToken('edge-1', stranger.privateKey, { nowSeconds: NOW });
    expect(await verifyNodeToken(forged, lookup, { nowSeconds: NOW })).toEqual({ ok: false });
  });

  it('refuses a token issued in the future (it would be good until then), beyond the clock tolerance', async () => {
    const yearAhead = await signNodeToken('edge-1', node.privateKey, { nowSeconds: NOW + 365 * 86_400 });
    expect(await verifyNodeToken(yearAhead, lookup, { nowSeconds: NOW })).toEqual({ ok: false });
    const skewed = await signNodeToken('edge-1', node.privateKey, { nowSeconds: NOW + 20 });
    expect(await verifyNodeToken(skewed, lookup, { nowSeconds: NOW })).toEqual({ ok: true, nodeId: 'edge-1' });
  });

  it('refuses a kid that is no node id without looking it up', async () => {
    const looked: string[] = [];
    const spy = async (id: string) => (looked.push(id), node.publicKey);
    for (const kid of ['edge\u0000', 'Edge-1', '', 'x'.repeat(65)]) {
      const token = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA', typ: NODE_TOKEN_TYP, kid }).setIssuedAt(NOW).setExpirationTime(NOW + 60).sign(node.privateKey);
      expect(await verifyNodeToken(token, spy, { nowSeconds: NOW })).toEqual({ ok: false });
    }
    expect(looked).toEqual([]);
  });

  it('refuses a long-lived token even when correctly signed', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', typ: NODE_TOKEN_TYP, kid: 'edge-1' })
      .setIssuer('edge-1')
      .setSubject('edge-1')
      .setAudience('taas-node-api')
      .setIssuedAt(NOW)
      .setExpirationTime(NOW + 86_400)
      .sign(node.privateKey);
    expect(await verifyNodeToken(token, lookup, { nowSeconds: NOW })).toEqual({ ok: false });
  });

  it('refuses a token whose issuer is another node than its key id', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', typ: NODE_TOKEN_TYP, kid: 'edge-1' })
      .setIssuer('edge-2')
      .setSubject('edge-2')
      .setAudience('taas-node-api')
      .setIssuedAt(NOW)
      .setExpirationTime(NOW + 60)
      .sign(node.privateKey);
    expect(await verifyNodeToken(token, lookup, { nowSeconds: NOW })).toEqual({ ok: false });
    expect(await verifyNodeToken('garbage', lookup, { nowSeconds: NOW })).toEqual({ ok: false });
  });
});
