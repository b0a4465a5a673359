// The local state file of `npm start` (.taas/local.json, mode 0600, git-ignored): generated keys,
// the node identity, the admin token and the demo key, so a restart reuses them and scripts can
// read them. It holds local development secrets only; nothing here is used in production.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { generateKekBase64 } from '../control-plane/credentials/keyring.ts';
import { generateEd25519, generateX25519, type JwkPair } from './keys.ts';

export interface LocalState {
  /** Which database this state belongs to: 'pglite:<dir>' or the DATABASE_URL without its password. */
  database: string;
  manifestKey: JwkPair;
  /** `encryption` is absent in state files from before sealed credentials (npm start then makes a new node). */
  node: { id: string; keys: JwkPair; encryption?: JwkPair };
  adminToken: string | null;
  /** The key-encryption key of provider credentials (CREDENTIAL_KEKS); absent in state files from before it existed. */
  credentialKek?: { id: string; key: string };
  demo: { orgId: string; keyId: string; key: string } | null;
  urls?: { edge: string; controlPlane: string; supplier: string };
}

export function describeDatabase(databaseUrl: string | undefined, pgliteDir: string): string {
  if (!databaseUrl) return `pglite:${pgliteDir}`;
  const url = new URL(databaseUrl);
  url.password = '';
  return url.toString();
}

export async function loadOrCreateState(file: string, database: string): Promise<{ state: LocalState; created: boolean }> {
  if (existsSync(file)) {
    const state = JSON.parse(readFileSync(file, 'utf8')) as LocalState;
    if (state.database === database) return { state, created: false };
  }
  const suffix = randomBytes(3).toString('hex');
  return {
    created: true,
    state: {
      database,
      manifestKey: await generateEd25519(`local-${suffix}`),
      node: await newLocalNode(suffix),
      adminToken: null,
      credentialKek: newLocalKek(suffix),
      demo: null,
    },
  };
}

/** A new local edge node identity: Ed25519 signing key and X25519 encryption key. */
export async function newLocalNode(suffix: string): Promise<LocalState['node']> {
  const id = `local-edge-${suffix}`;
  return { id, keys: await generateEd25519(id), encryption: await generateX25519(id) };
}

/** A fresh local KEK, base64 of 32 random bytes, as CREDENTIAL_KEKS takes it. */
export function newLocalKek(suffix: string): { id: string; key: string } {
  return { id: `local-${suffix}`, key: generateKekBase64() };
}

export function saveState(file: string, state: LocalState): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
}
