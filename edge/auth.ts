// Customer authentication at the edge: the key's SHA-256 looked up in the verified manifest.
// No database, no network.

import { hashToken, isWellFormedToken } from '../shared/api-key.ts';
import type { KeyEntry, ManifestPayload } from '../shared/manifest.ts';

export type AuthDenial = 'missing' | 'malformed' | 'unknown' | 'expired';
export type AuthResult = { ok: true; key: KeyEntry } | { ok: false; denial: AuthDenial };

/** `Authorization: Bearer taas_…` (OpenAI clients) or `x-api-key: taas_…` (Anthropic clients). */
export function presentedKey(headers: Headers): string | null {
  const authorization = headers.get('authorization');
  if (authorization) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    return match ? match[1]! : authorization;
  }
  return headers.get('x-api-key');
}

export async function authenticate(headers: Headers, manifest: ManifestPayload, nowSeconds: number): Promise<AuthResult> {
  const raw = presentedKey(headers);
  if (!raw) return { ok: false, denial: 'missing' };
  if (!isWellFormedToken('api_key', raw)) return { ok: false, denial: 'malformed' };
  const hash = await hashToken(raw);
  const key = Object.hasOwn(manifest.keys, hash) ? manifest.keys[hash] : undefined;
  if (!key) return { ok: false, denial: 'unknown' };
  if (key.expires_at !== null && key.expires_at <= nowSeconds) return { ok: false, denial: 'expired' };
  return { ok: true, key };
}
