// Key pairs as JWKs, for local runs and tests: Ed25519 for the manifest signing key and node
// identities, X25519 for the node encryption keys that credentials are sealed to.
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

/** An edge node's encryption key pair (ECDH-ES): the public half is registered, the private half is NODE_ENCRYPTION_KEY. */
export async function generateX25519(kid: string): Promise<JwkPair> {
  const { privateKey, publicKey } = await generateKeyPair('ECDH-ES', { crv: 'X25519', extractable: true });
  return {
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ECDH-ES', use: 'enc' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ECDH-ES', use: 'enc' },
  };
}
