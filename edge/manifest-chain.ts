// What the edge holds: the manifest built from a verified snapshot plus the verified deltas applied
// since. Their signed bytes go to the vault as they arrive (and are re-verified after a restart:
// nothing is trusted because it was stored); in memory only their sizes stay — a 100k-key snapshot
// is ~47 MB of text the edge must not carry twice. Pure apart from the verification itself.

import { decodeProtectedHeader, type CryptoKey } from 'jose';
import { applyManifestDelta, MANIFEST_DELTA_TYP, verifyManifestDelta, type DeltaRejection } from '../shared/manifest-delta.ts';
import { verifyManifest, type ManifestPayload } from '../shared/manifest.ts';

/** Sizes of the signed bytes behind the held manifest: when deltas outgrow the snapshot, ask for a new one. */
export interface ChainSize {
  snapshotBytes: number;
  deltas: number;
  deltaBytes: number;
}

export interface HeldManifest {
  manifest: ManifestPayload;
  chain: ChainSize;
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
    return verified.ok ? { ok: true, held: { manifest: verified.manifest, chain: { snapshotBytes: jws.length, deltas: 0, deltaBytes: 0 } } } : verified;
  }
  if (!held) return { ok: false, reason: 'wrong_base' };
  const verified = await verifyManifestDelta(jws, { ...options, base: held.manifest });
  if (!verified.ok) return verified;
  const chain = { ...held.chain, deltas: held.chain.deltas + 1, deltaBytes: held.chain.deltaBytes + jws.length };
  return { ok: true, held: { manifest: applyManifestDelta(held.manifest, verified.delta), chain } };
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
  const size = { snapshotBytes: snapshot.length, deltas: deltas.length, deltaBytes: deltas.reduce((sum, d) => sum + d.length, 0) };
  return manifest.expires_at > options.nowSeconds ? { manifest, chain: size } : null;
}

/** Deltas pile up; past this share of the snapshot's size, ask for a fresh snapshot instead. */
export function chainWantsSnapshot(chain: ChainSize): boolean {
  return chain.deltas > 1000 || chain.deltaBytes > Math.max(chain.snapshotBytes / 2, 1024 * 1024);
}
