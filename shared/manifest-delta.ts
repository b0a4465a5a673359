// Signed manifest deltas: the key changes between two manifest versions, so a change to one of 1M
// keys costs edges a few hundred bytes instead of a full snapshot. Same signer, pinned algorithm
// and size rule as the snapshot (manifest.ts); its own `typ`, so neither passes for the other.
// Catalog and org states travel in full in every delta: they are small and change together.

import { CompactSign } from 'jose';
import { z } from 'zod';
import {
  DEFAULT_MAX_MANIFEST_BYTES,
  KeyEntry,
  MANIFEST_ALG,
  MANIFEST_FORMAT,
  ManifestFormat,
  ModelEntry,
  OrgEntry,
  verifySignedJson,
  type ManifestPayload,
  type ManifestRejection,
  type SigningKey,
} from './manifest.ts';

export const MANIFEST_DELTA_TYP = 'taas-manifest-delta+jws';

export const ManifestDeltaPayload = z.object({
  format: ManifestFormat,
  /** The version the delta applies to; an edge holding any other version refuses it. */
  from: z.number().int().positive(),
  /** The version the edge holds after applying it; equal to `from` for a pure expiry renewal. */
  to: z.number().int().positive(),
  issued_at: z.number().int(),
  expires_at: z.number().int(),
  /** Key hash → its entry at `to` (added or replaced). */
  put: z.record(z.string(), KeyEntry),
  /** Key hashes no longer admitted at `to`. */
  remove: z.array(z.string()),
  orgs: z.record(z.string(), OrgEntry),
  models: z.record(z.string(), ModelEntry),
});
export type ManifestDeltaPayload = z.infer<typeof ManifestDeltaPayload>;

export async function signManifestDelta(payload: ManifestDeltaPayload, key: SigningKey): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: MANIFEST_ALG, kid: key.kid, typ: MANIFEST_DELTA_TYP })
    .sign(key.privateKey);
}

export type DeltaRejection = ManifestRejection | 'wrong_base';

export type DeltaVerification = { ok: true; delta: ManifestDeltaPayload } | { ok: false; reason: DeltaRejection };

export async function verifyManifestDelta(
  jws: string,
  options: {
    publicKeys: Parameters<typeof verifySignedJson>[1]['publicKeys'];
    nowSeconds: number;
    /** The manifest the delta would be applied to. */
    base: Pick<ManifestPayload, 'version' | 'issued_at'>;
    maxBytes?: number;
    /** As for snapshots: only while replaying a persisted chain, whose end is checked instead. */
    ignoreExpiry?: boolean;
  },
): Promise<DeltaVerification> {
  const checked = await verifySignedJson(jws, { typ: MANIFEST_DELTA_TYP, publicKeys: options.publicKeys, maxBytes: options.maxBytes ?? DEFAULT_MAX_MANIFEST_BYTES });
  if (!checked.ok) return checked;
  const parsed = ManifestDeltaPayload.safeParse(checked.payload);
  if (!parsed.success || parsed.data.to < parsed.data.from) return { ok: false, reason: 'bad_payload' };
  const delta = parsed.data;
  if (delta.from !== options.base.version) return { ok: false, reason: 'wrong_base' };
  // A renewal (to == from) must be newer than what is held, or an old renewal could be replayed.
  if (delta.to === delta.from && delta.issued_at <= options.base.issued_at) return { ok: false, reason: 'older_version' };
  if (!options.ignoreExpiry && delta.expires_at <= options.nowSeconds) return { ok: false, reason: 'expired' };
  return { ok: true, delta };
}

/**
 * The manifest at `delta.to`. The key map is updated in place on purpose: at 1M keys a copy costs
 * hundreds of milliseconds of edge CPU and doubles peak memory on every change. Callers pass only
 * a map they own, after the delta has been fully verified (nothing here can fail halfway), and
 * apply it in the same synchronous step that checks its base is still the one held and swaps the
 * result in (edge/manifest-store.ts): two fetches from one base can both pass verification, and
 * the one applied second would otherwise bring back keys the first removed or changed.
 */
export function applyManifestDelta(base: ManifestPayload, delta: ManifestDeltaPayload): ManifestPayload {
  const keys = base.keys;
  for (const hash of delta.remove) delete keys[hash];
  for (const [hash, entry] of Object.entries(delta.put)) keys[hash] = entry;
  return {
    format: MANIFEST_FORMAT,
    version: delta.to,
    issued_at: delta.issued_at,
    expires_at: delta.expires_at,
    keys,
    // The shards were folded into `keys` when the snapshot was loaded.
    key_shards: base.key_shards,
    orgs: delta.orgs,
    models: delta.models,
  };
}
