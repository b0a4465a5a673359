// What the edge holds: the manifest built from a verified snapshot plus the verified deltas applied
// since. Their signed bytes go to the vault as they arrive (and are re-verified after a restart:
// nothing is trusted because it was stored); in memory only their sizes stay — a 100k-key snapshot
// is ~47 MB of text the edge must not carry twice. Pure apart from the verification itself.

import { decodeProtectedHeader, type CryptoKey } from 'jose';
import { applyManifestDelta, MANIFEST_DELTA_TYP, verifyManifestDelta, type DeltaRejection } from '../shared/manifest-delta.ts';
import { decodeKeyShard } from '../shared/manifest-shards.ts';
import { verifyManifest, type KeyShardRef, type ManifestPayload } from '../shared/manifest.ts';

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

export type Acceptance = { ok: true; held: HeldManifest } | { ok: false; reason: DeltaRejection | 'bad_shard' };

/**
 * A document that passed every check and is not applied yet. A snapshot is complete (its own key
 * map); a delta's `apply` updates its base's key map in place, so it must run only while that
 * base is still the held manifest, in the same synchronous step that swaps the result in.
 */
export type Verification =
  | { ok: true; kind: 'snapshot'; held: HeldManifest }
  | { ok: true; kind: 'delta'; apply: () => HeldManifest }
  | { ok: false; reason: DeltaRejection | 'bad_shard' };

/** Where a snapshot's key shards come from (the control plane, or the vault on a restart). */
export interface ShardSource {
  read(ref: KeyShardRef, index: number): Promise<string>;
  /** Each document once verified, in order: the snapshot (index 0), then its shards (1…n). */
  keep?(doc: string, index: number): Promise<void>;
}

/**
 * Completes a verified snapshot: each shard is read, checked against the digest and key count
 * the snapshot names, and folded into its key map. One shard at a time, so the edge holds a few
 * MB of shard text at most. Any failure refuses the whole snapshot (nothing half-loaded serves).
 */
async function loadShards(manifest: ManifestPayload, jws: string, source: ShardSource | undefined): Promise<number | null> {
  await source?.keep?.(jws, 0);
  let bytes = jws.length;
  if (manifest.key_shards.length === 0) return bytes;
  if (!source) return null;
  const strings = new Map<string, string>();
  for (const [i, ref] of manifest.key_shards.entries()) {
    let body: string;
    try {
      body = await source.read(ref, i + 1);
    } catch {
      return null;
    }
    if (!(await decodeKeyShard(body, ref, manifest.keys, strings))) return null;
    await source.keep?.(body, i + 1);
    bytes += body.length;
  }
  return bytes;
}

function isDelta(jws: string): boolean {
  try {
    return decodeProtectedHeader(jws).typ === MANIFEST_DELTA_TYP;
  } catch {
    return false;
  }
}

/**
 * Verifies a snapshot or a delta from the control plane against what is held, changing nothing.
 * A snapshot starts a new chain; a delta must start at the held version exactly ('wrong_base'
 * otherwise: the caller falls back to a snapshot).
 */
export async function verifySigned(jws: string, held: HeldManifest | null, options: ChainOptions, shards?: ShardSource): Promise<Verification> {
  if (!isDelta(jws)) {
    const verified = await verifyManifest(jws, { ...options, ...(held ? { current: held.manifest } : {}) });
    if (!verified.ok) return verified;
    const snapshotBytes = await loadShards(verified.manifest, jws, shards);
    if (snapshotBytes === null) return { ok: false, reason: 'bad_shard' };
    return { ok: true, kind: 'snapshot', held: { manifest: verified.manifest, chain: { snapshotBytes, deltas: 0, deltaBytes: 0 } } };
  }
  if (!held) return { ok: false, reason: 'wrong_base' };
  const verified = await verifyManifestDelta(jws, { ...options, base: held.manifest });
  if (!verified.ok) return verified;
  const chain = { ...held.chain, deltas: held.chain.deltas + 1, deltaBytes: held.chain.deltaBytes + jws.length };
  return { ok: true, kind: 'delta', apply: () => ({ manifest: applyManifestDelta(held.manifest, verified.delta), chain }) };
}

/** verifySigned, then applied at once: for callers that hold nothing another task could update meanwhile. */
export async function acceptSigned(jws: string, held: HeldManifest | null, options: ChainOptions, shards?: ShardSource): Promise<Acceptance> {
  const verified = await verifySigned(jws, held, options, shards);
  if (!verified.ok) return verified;
  return { ok: true, held: verified.kind === 'delta' ? verified.apply() : verified.held };
}

/** Persisted documents, read one at a time: [snapshot, …its shards, …deltas]. */
export interface PersistedChain {
  length: number;
  read(index: number): Promise<string>;
}

/**
 * Rebuilds the held manifest from persisted signed bytes: every link re-verified (pinned keys,
 * typ, size, each shard's digest, each delta's base), and only the result's hard expiry decides
 * whether it may serve.
 */
export async function replayChain(chain: PersistedChain | readonly string[], options: ChainOptions): Promise<HeldManifest | null> {
  const docs: PersistedChain = Array.isArray(chain) ? { length: chain.length, read: async (i) => chain[i]! } : (chain as PersistedChain);
  if (docs.length === 0) return null;
  const snapshot = await docs.read(0);
  if (isDelta(snapshot)) return null;
  const base = await verifyManifest(snapshot, { ...options, ignoreExpiry: true });
  if (!base.ok || docs.length < 1 + base.manifest.key_shards.length) return null;
  const snapshotBytes = await loadShards(base.manifest, snapshot, { read: (_ref, i) => docs.read(i) });
  if (snapshotBytes === null) return null;
  let manifest = base.manifest;
  let deltaBytes = 0;
  for (let i = 1 + manifest.key_shards.length; i < docs.length; i++) {
    const jws = await docs.read(i);
    const verified = await verifyManifestDelta(jws, { ...options, base: manifest, ignoreExpiry: true });
    if (!verified.ok) return null;
    manifest = applyManifestDelta(manifest, verified.delta);
    deltaBytes += jws.length;
  }
  const size = { snapshotBytes, deltas: docs.length - 1 - base.manifest.key_shards.length, deltaBytes };
  return manifest.expires_at > options.nowSeconds ? { manifest, chain: size } : null;
}

/** Deltas pile up; past this share of the snapshot's size, ask for a fresh snapshot instead. */
export function chainWantsSnapshot(chain: ChainSize): boolean {
  return chain.deltas > 1000 || chain.deltaBytes > Math.max(chain.snapshotBytes / 2, 1024 * 1024);
}
