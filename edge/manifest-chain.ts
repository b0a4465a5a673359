// What the edge holds: a verified snapshot plus the verified deltas applied since, kept as their
// signed bytes so they can be persisted and re-verified after a restart (nothing is trusted
// because it was stored). Pure apart from the verification itself.

import { decodeProtectedHeader, type CryptoKey } from 'jose';
import { applyManifestDelta, MANIFEST_DELTA_TYP, verifyManifestDelta, type DeltaRejection } from '../shared/manifest-delta.ts';
import { verifyManifest, type ManifestPayload } from '../shared/manifest.ts';

export interface HeldManifest {
  manifest: ManifestPayload;
  /** Signed bytes: the snapshot first, then each delta applied to it, in order. */
  chain: readonly string[];
}

export interface ChainOptions {
  publicKeys: Readonly<Record<string, CryptoKey>>;
  nowSeconds: number;
  maxBytes: number;
}

export type Acceptance = { ok: true; held: HeldManifest } | { ok: false; reason: DeltaRejection };

function isDelta(jws: string): boolean {
  try {
    return decodeProtectedHeader(jws).typ === MANIFEST_DELTA_TYP;
  } catch {
    return false;
  }
}

/**
 * Verifies a snapshot or a delta from the control plane against what is held. A snapshot starts
 * a new chain; a delta must start at the held version exactly ('wrong_base' otherwise: the
 * caller falls back to a snapshot). The held key map is updated in place by a delta.
 */
export async function acceptSigned(jws: string, held: HeldManifest | null, options: ChainOptions): Promise<Acceptance> {
  if (!isDelta(jws)) {
    const verified = await verifyManifest(jws, { ...options, ...(held ? { current: held.manifest } : {}) });
    return verified.ok ? { ok: true, held: { manifest: verified.manifest, chain: [jws] } } : verified;
  }
  if (!held) return { ok: false, reason: 'wrong_base' };
  const verified = await verifyManifestDelta(jws, { ...options, base: held.manifest });
  if (!verified.ok) return verified;
  return { ok: true, held: { manifest: applyManifestDelta(held.manifest, verified.delta), chain: [...held.chain, jws] } };
}

/**
 * Rebuilds the held manifest from persisted signed bytes: every link re-verified (pinned keys,
 * typ, size, each delta's base), and only the result's hard expiry decides whether it may serve.
 */
export async function replayChain(chain: readonly string[], options: ChainOptions): Promise<HeldManifest | null> {
  const [snapshot, ...deltas] = chain;
  if (snapshot === undefined || isDelta(snapshot)) return null;
  const base = await verifyManifest(snapshot, { ...options, ignoreExpiry: true });
  if (!base.ok) return null;
  let manifest = base.manifest;
  for (const jws of deltas) {
    const verified = await verifyManifestDelta(jws, { ...options, base: manifest, ignoreExpiry: true });
    if (!verified.ok) return null;
    manifest = applyManifestDelta(manifest, verified.delta);
  }
  return manifest.expires_at > options.nowSeconds ? { manifest, chain } : null;
}

/** Deltas pile up; past this share of the snapshot's size, ask for a fresh snapshot instead. */
export function chainWantsSnapshot(chain: readonly string[]): boolean {
  const [snapshot = '', ...deltas] = chain;
  const deltaBytes = deltas.reduce((sum, d) => sum + d.length, 0);
  return deltas.length > 1000 || deltaBytes > Math.max(snapshot.length / 2, 1024 * 1024);
}
