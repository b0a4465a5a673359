// GET /node/v1/credentials: the supplier credentials an edge node needs, each secret opened from
// its at-rest envelope and at once sealed to the calling node's own X25519 key (a compact JWE),
// so the answer is useless to anyone but that node. Plaintext lives only inside this handler,
// in no log, error or header. Conditional: the ETag is computed before anything is decrypted,
// so an unchanged set costs one query and a 304.

import { Hono } from 'hono';
import { calculateJwkThumbprint, importJWK, type CryptoKey, type JWK } from 'jose';
import { ApiError } from '../../shared/errors.ts';
import { sealCredential, type SealedCredential, type SealedCredentialSet } from '../../shared/sealed-credential.ts';
import type { ApiSpec } from '../api-spec.ts';
import { EnvelopeError, open } from '../credentials/envelope.ts';
import type { Keyring } from '../credentials/keyring.ts';
import { credentialAad } from '../credentials/secret-store.ts';
import type { Database } from '../db.ts';
import type { Logger } from '../log.ts';
import type { AppEnv } from '../request-context.ts';
import { listEdgeCredentials, type EdgeCredentialRow } from '../sql/edge-credentials.ts';
import { findEdgeNode } from '../sql/edge-nodes.ts';
import { nodeAuth } from './node-api.ts';

export const nodeCredentialSpecs: ApiSpec[] = [
  { method: 'get', path: '/node/v1/credentials', summary: "Supplier credentials sealed to the calling node's X25519 key (JWE); 304 with If-None-Match when unchanged", tag: 'node API', access: 'node', success: { status: 200, description: 'A sealed_credential_set' } },
];

const base64url = (bytes: ArrayBuffer): string => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const sha256 = (text: string | Uint8Array<ArrayBuffer>): Promise<ArrayBuffer> =>
  crypto.subtle.digest('SHA-256', typeof text === 'string' ? new TextEncoder().encode(text) : text);

/** The secret's version: a digest of its at-rest ciphertext, which changes exactly when the secret is re-sealed (an OAuth renewal) and not on a KEK re-wrap. */
async function versionOf(row: EdgeCredentialRow): Promise<string> {
  const { iv, ciphertext } = row.envelope;
  const joined = new Uint8Array(iv.length + ciphertext.length);
  joined.set(iv);
  joined.set(ciphertext, iv.length);
  return base64url(await sha256(joined)).slice(0, 22);
}

function requireKeyring(keyring: Keyring | null): Keyring {
  if (keyring) return keyring;
  throw new ApiError('not_configured', 'Credential encryption is not configured on this control plane (CREDENTIAL_KEKS).');
}

export function nodeCredentialRoutes(deps: { db: Database; now: () => Date; log: Logger; credentialKeys?: Keyring | null }) {
  // Auth on the route itself, not the router: mounted beside the other node routes, it must not
  // authenticate their requests a second time.
  return new Hono<AppEnv>().get('/credentials', nodeAuth(deps.db, deps.now), async (c) => {
    const nodeId = c.get('nodeId');
    const node = await findEdgeNode(deps.db, nodeId);
    const encryptionJwk: JWK | null = node?.encryption_jwk ?? null;
    if (!encryptionJwk) {
      throw new ApiError('conflict', `Edge node '${nodeId}' has no registered encryption key (encryption_jwk), so no credential can be sealed to it; it uses its configured SUPPLIER_KEYS only.`);
    }
    const kid = await calculateJwkThumbprint(encryptionJwk);
    const rows = await listEdgeCredentials(deps.db);
    const entries = await Promise.all(rows.map(async (row) => ({ row, version: await versionOf(row) })));
    const etag = `"${base64url(await sha256(JSON.stringify([nodeId, kid, entries.map((e) => [e.row.id, e.row.supplier_id, e.version, e.row.is_default])])))}"`;
    c.header('Cache-Control', 'no-store');
    if (c.req.header('if-none-match') === etag) {
      c.header('ETag', etag);
      return c.body(null, 304);
    }

    const keyring = rows.length > 0 ? requireKeyring(deps.credentialKeys ?? null) : null;
    const publicKey = (await importJWK(encryptionJwk, 'ECDH-ES')) as CryptoKey;
    const credentials: SealedCredential[] = [];
    let complete = true;
    for (const { row, version } of entries) {
      let secret: string;
      try {
        secret = await open(keyring!, row.envelope, credentialAad(row.id, 'secret'));
      } catch (err) {
        if (!(err instanceof EnvelopeError)) throw err;
        // One unreadable credential (e.g. its KEK was removed) must not cut off the others.
        deps.log('error', 'credential not sealed for edge', { credential_id: row.id, failure: err.failure });
        complete = false;
        continue;
      }
      const jwe = await sealCredential(secret, publicKey, { kid, nodeId, credentialId: row.id, supplierId: row.supplier_id, version });
      credentials.push({ id: row.id, supplier_id: row.supplier_id, version, default: row.is_default, jwe });
    }
    // An incomplete set gets no ETag: the node fetches in full next time, once the fault is fixed.
    if (complete) c.header('ETag', etag);
    const body: SealedCredentialSet = { object: 'sealed_credential_set', node_id: nodeId, credentials };
    return c.json(body);
  });
}
