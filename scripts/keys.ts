// Ed25519 key pairs as JWKs, for local runs and tests: the manifest signing key and node keys.
// Generated on demand and never committed.

import { exportJWK, generateKeyPair, type JWK } from 'jose';

export interface JwkPair {
  privateJwk: JWK & { kid: string };
  publicJwk: JWK & { kid: string };
}

export async function generateEd25519(kid: string): Promise<JwkPair> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return {
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'EdDSA' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA' },
  };
}
