// Short-lived tokens an edge node signs with its own Ed25519 key to call the node API.
// A leaked token expires within minutes, and one node can be cut off by disabling its key.

import { SignJWT, decodeProtectedHeader, jwtVerify, type CryptoKey } from 'jose';

export const NODE_TOKEN_TYP = 'taas-node+jwt';
export const NODE_TOKEN_AUDIENCE = 'taas-node-api';
export const NODE_TOKEN_ALG = 'EdDSA';
/** Upper bound on a token's lifetime; the verifier refuses longer-lived ones. */
export const NODE_TOKEN_MAX_LIFETIME_S = 300;
const CLOCK_TOLERANCE_S = 30;
/** Node ids as the control plane registers them. */
export const NODE_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export async function signNodeToken(
  nodeId: string,
  privateKey: CryptoKey,
  options: { nowSeconds: number; lifetimeSeconds?: number },
): Promise<string> {
  const lifetime = Math.min(options.lifetimeSeconds ?? 120, NODE_TOKEN_MAX_LIFETIME_S);
  return new SignJWT({})
    .setProtectedHeader({ alg: NODE_TOKEN_ALG, typ: NODE_TOKEN_TYP, kid: nodeId })
    .setIssuer(nodeId)
    .setSubject(nodeId)
    .setAudience(NODE_TOKEN_AUDIENCE)
    .setIssuedAt(options.nowSeconds)
    .setExpirationTime(options.nowSeconds + lifetime)
    .sign(privateKey);
}

export type NodeTokenResult = { ok: true; nodeId: string } | { ok: false };

/** `lookupKey` answers the registered, enabled public key of a node, or null. */
export async function verifyNodeToken(
  token: string,
  lookupKey: (nodeId: string) => Promise<CryptoKey | null>,
  options: { nowSeconds: number },
): Promise<NodeTokenResult> {
  let kid: unknown;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    return { ok: false };
  }
  // A node id as registered (control-plane/routes/edge-nodes.ts): anything else names no node, and
  // is refused before it reaches a database lookup (a NUL in it was a 500 there).
  if (typeof kid !== 'string' || !NODE_ID.test(kid)) return { ok: false };
  const key = await lookupKey(kid);
  if (!key) return { ok: false };
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: [NODE_TOKEN_ALG],
      typ: NODE_TOKEN_TYP,
      audience: NODE_TOKEN_AUDIENCE,
      issuer: kid,
      subject: kid,
      currentDate: new Date(options.nowSeconds * 1000),
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ['iat', 'exp'],
    });
    if (payload.exp! - payload.iat! > NODE_TOKEN_MAX_LIFETIME_S) return { ok: false };
    // jose checks `iat` only against a maximum age: a token dated a year ahead, with a lifetime
    // of 300 s, would otherwise be good for that year. Issued in the future (beyond the clock
    // tolerance) is refused, so a leaked token still expires within minutes.
    if (payload.iat! > options.nowSeconds + CLOCK_TOLERANCE_S) return { ok: false };
    return { ok: true, nodeId: kid };
  } catch {
    return { ok: false };
  }
}
