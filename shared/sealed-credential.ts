// Supplier credentials in transit to an edge node (ARCHITECTURE.md "Credentials"): each secret is
// a compact JWE sealed to that node's X25519 key (ECDH-ES, A256GCM). The protected header names
// the node, credential, supplier and secret version; GCM authenticates it, and the opener checks
// it against the entry it arrived under, so a JWE cannot be replayed as another credential, an
// older version or for another node.

import { CompactEncrypt, compactDecrypt, type CryptoKey } from 'jose';
import { z } from 'zod';

export const SEALED_CREDENTIAL_TYP = 'taas-credential+jwe';
const ALG = 'ECDH-ES';
const ENC = 'A256GCM';

export const SealedCredential = z.strictObject({
  id: z.string().min(1).max(64),
  supplier_id: z.string().min(1).max(64),
  /** Changes whenever the secret does (a renewed OAuth token): edges re-open only what changed. */
  version: z.string().min(1).max(64),
  /** The supplier's default: used by routes that pin no credential. */
  default: z.boolean(),
  jwe: z.string().max(64 * 1024),
});
export type SealedCredential = z.infer<typeof SealedCredential>;

export const SealedCredentialSet = z.strictObject({
  object: z.literal('sealed_credential_set'),
  node_id: z.string(),
  credentials: z.array(SealedCredential).max(10_000),
});
export type SealedCredentialSet = z.infer<typeof SealedCredentialSet>;

/** What a JWE is bound to; every field is in its protected header. */
export interface SealBinding {
  nodeId: string;
  credentialId: string;
  supplierId: string;
  version: string;
}

export async function sealCredential(secret: string, publicKey: CryptoKey, binding: SealBinding & { kid: string }): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(secret))
    .setProtectedHeader({
      alg: ALG,
      enc: ENC,
      typ: SEALED_CREDENTIAL_TYP,
      kid: binding.kid,
      nid: binding.nodeId,
      cid: binding.credentialId,
      sid: binding.supplierId,
      ver: binding.version,
    })
    .encrypt(publicKey);
}

export type OpenResult = { ok: true; secret: string } | { ok: false; reason: 'undecryptable' | 'wrong_binding' };

/** The secret, or why not; never throws, and the reason never carries any part of the secret. */
export async function openCredential(jwe: string, privateKey: CryptoKey, expected: SealBinding): Promise<OpenResult> {
  let opened: Awaited<ReturnType<typeof compactDecrypt>>;
  try {
    // Pinned algorithms: a header asking for anything else is refused before any key use.
    opened = await compactDecrypt(jwe, privateKey, { keyManagementAlgorithms: [ALG], contentEncryptionAlgorithms: [ENC] });
  } catch {
    return { ok: false, reason: 'undecryptable' };
  }
  const h = opened.protectedHeader;
  if (h.typ !== SEALED_CREDENTIAL_TYP || h.nid !== expected.nodeId || h.cid !== expected.credentialId || h.sid !== expected.supplierId || h.ver !== expected.version) {
    return { ok: false, reason: 'wrong_binding' };
  }
  try {
    return { ok: true, secret: new TextDecoder('utf-8', { fatal: true }).decode(opened.plaintext) };
  } catch {
    return { ok: false, reason: 'undecryptable' };
  }
}
