// This node's identity towards the control plane: signs short-lived node-API tokens with the
// node's own Ed25519 key, reusing one until shortly before it expires.

import type { CryptoKey } from 'jose';
import { signNodeToken } from '../shared/node-token.ts';

const LIFETIME_S = 120;
const RENEW_BEFORE_S = 30;

export interface NodeIdentity {
  nodeId: string;
  authorization(): Promise<string>;
}

export function createNodeIdentity(nodeId: string, privateKey: CryptoKey, nowMs: () => number): NodeIdentity {
  let cached: { token: string; expiresAt: number } | null = null;
  return {
    nodeId,
    async authorization() {
      const now = Math.floor(nowMs() / 1000);
      if (!cached || cached.expiresAt - now < RENEW_BEFORE_S) {
        cached = { token: await signNodeToken(nodeId, privateKey, { nowSeconds: now, lifetimeSeconds: LIFETIME_S }), expiresAt: now + LIFETIME_S };
      }
      return `Bearer ${cached.token}`;
    },
  };
}
