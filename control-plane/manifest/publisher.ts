// Serves the signed manifest: rebuilt only when the version moved or the signed copy is getting
// old, shared by all concurrent node polls, and addressed by an ETag so an unchanged manifest
// costs a 304.

import { signManifestDelta } from '../../shared/manifest-delta.ts';
import { DEFAULT_SHARD_KEYS, encodeKeyShards } from '../../shared/manifest-shards.ts';
import { signManifest, type SigningKey } from '../../shared/manifest.ts';
import type { Database } from '../db.ts';
import { pruneKeyChanges } from '../sql/manifest-changes.ts';
import { nextPriceChange, readManifestVersion } from '../sql/manifest.ts';
import { buildManifest } from './build.ts';
import { buildManifestDelta } from './delta.ts';
import { createVersionWatch } from './version-watch.ts';

/** Above this many changed hashes a delta is not worth it: the edge gets a snapshot. */
export const MAX_DELTA_KEYS = 50_000;
const VERSION_POLL_MS = 200;

export interface SignedManifest {
  version: number;
  issuedAt: number;
  etag: string;
  jws: string;
  /** Epoch seconds when a scheduled price version takes effect: prices in the manifest change then. */
  nextPriceChangeAt: number | null;
  /** The snapshot's key shards by digest (empty when its keys are inline). */
  shards: ReadonlyMap<string, string>;
}

/** What an edge holding `version` (signed at `issuedAt`) needs next. */
export type ManifestUpdate = { kind: 'unchanged' } | { kind: 'delta'; jws: string; version: number; issuedAt: number } | { kind: 'snapshot'; signed: SignedManifest };

export interface ManifestPublisher {
  current(): Promise<SignedManifest>;
  /** A signed delta from the edge's version, a snapshot when no delta can be answered, or 'unchanged'. */
  updateFor(held: { version: number; issuedAt: number }): Promise<ManifestUpdate>;
  /** Resolves once the version is above `version` or after `timeoutMs` (long-poll). */
  waitBeyond(version: number, timeoutMs: number): Promise<number>;
  /**
   * A key shard of the current or the previous snapshot, by digest; null when neither names it.
   * On a miss the current snapshot is brought up to date first: another replica may have built
   * this version already (same keys in the same order, so the same shards).
   */
  shard(sha256: string): Promise<string | null>;
}

export function createManifestPublisher(deps: {
  db: Database;
  signingKey: SigningKey;
  ttlSeconds: number;
  nowSeconds: () => number;
  /** A snapshot with more keys than this carries them in shards of this many. */
  shardKeys?: number;
}): ManifestPublisher {
  const shardKeys = deps.shardKeys ?? DEFAULT_SHARD_KEYS;
  let cached: SignedManifest | null = null;
  // The snapshot before `cached` keeps its shards: an edge may be fetching them when a new one is built.
  let previous: SignedManifest | null = null;
  let inflight: Promise<SignedManifest> | null = null;

  async function rebuild(): Promise<SignedManifest> {
    const nowSeconds = deps.nowSeconds();
    // A snapshot rebuild (at least every quarter lifetime) also prunes the change log: changes
    // older than two lifetimes can only matter to an edge whose manifest has expired, and such an
    // edge needs a snapshot anyway.
    await pruneKeyChanges(deps.db, new Date((nowSeconds - 2 * deps.ttlSeconds) * 1000));
    const payload = await buildManifest(deps.db, { nowSeconds, ttlSeconds: deps.ttlSeconds });
    // Small manifests keep their keys inline (one round trip); big ones travel in shards.
    let shards = new Map<string, string>();
    if (Object.keys(payload.keys).length > shardKeys) {
      const encoded = await encodeKeyShards(payload.keys, shardKeys);
      payload.keys = {};
      payload.key_shards = encoded.refs;
      shards = encoded.bodies;
    }
    const jws = await signManifest(payload, deps.signingKey);
    const nextChange = await nextPriceChange(deps.db, new Date(nowSeconds * 1000));
    return {
      version: payload.version,
      issuedAt: payload.issued_at,
      etag: `"${payload.version}.${payload.issued_at}"`,
      jws,
      nextPriceChangeAt: nextChange === null ? null : Math.floor(nextChange.getTime() / 1000),
      shards,
    };
  }

  // Deltas are shared by every edge at the same `from` until the version moves again.
  let deltas = new Map<number, Promise<ManifestUpdate>>();
  let deltasTo = -1;
  const watch = createVersionWatch({ readVersion: () => readManifestVersion(deps.db), pollMs: VERSION_POLL_MS });

  async function signedDelta(from: number): Promise<ManifestUpdate> {
    const delta = await buildManifestDelta(deps.db, { from, nowSeconds: deps.nowSeconds(), ttlSeconds: deps.ttlSeconds, maxKeys: MAX_DELTA_KEYS });
    if (delta === 'snapshot') return { kind: 'snapshot', signed: await publisher.current() };
    return { kind: 'delta', jws: await signManifestDelta(delta, deps.signingKey), version: delta.to, issuedAt: delta.issued_at };
  }

  const publisher: ManifestPublisher = {
    waitBeyond: (version, timeoutMs) => watch.waitBeyond(version, timeoutMs),
    async shard(sha256) {
      const held = () => cached?.shards.get(sha256) ?? previous?.shards.get(sha256) ?? null;
      return held() ?? (await publisher.current(), held());
    },
    async updateFor(held) {
      const version = await readManifestVersion(deps.db);
      const now = deps.nowSeconds();
      const old = (issuedAt: number) => now - issuedAt >= deps.ttlSeconds / 4;
      // Prices in a copy signed at `issuedAt` are out of date once a scheduled price version took
      // effect after it: no transaction bumps the version then, so without this an edge on deltas
      // reserved at the old price until its copy's renewal, up to a quarter lifetime later.
      const pricesChangedSince = async (issuedAt: number) => {
        const at = await nextPriceChange(deps.db, new Date(issuedAt * 1000));
        return at !== null && at.getTime() <= now * 1000;
      };
      // Same renewal rule as snapshots: an edge's copy is renewed after a quarter of its life
      // (a delta with from == to), so it always holds one far from its hard expiry.
      if (version === held.version && !old(held.issuedAt) && !(await pricesChangedSince(held.issuedAt))) return { kind: 'unchanged' };
      if (version !== deltasTo) {
        deltas = new Map();
        deltasTo = version;
      }
      let answer = deltas.get(held.version);
      if (!answer) {
        answer = signedDelta(held.version);
        deltas.set(held.version, answer);
        answer.catch(() => deltas.delete(held.version));
      }
      const update = await answer;
      // A snapshot answer is the current snapshot, whatever was current when it was cached.
      if (update.kind !== 'delta') return update.kind === 'snapshot' ? { kind: 'snapshot', signed: await publisher.current() } : update;
      // A cached delta is shared only while it is fresh: not older than what the edge holds (it
      // would be refused), not a quarter lifetime old (an edge back after a long disconnection
      // would get one already expired, refuse it and ask again at once, for as long as nothing
      // changed), and not from before a price change that has taken effect.
      if ((update.version === held.version && update.issuedAt <= held.issuedAt) || old(update.issuedAt) || (await pricesChangedSince(update.issuedAt))) {
        const fresh = signedDelta(held.version);
        deltas.set(held.version, fresh);
        fresh.catch(() => deltas.delete(held.version));
        return fresh;
      }
      return update;
    },
    async current() {
      const version = await readManifestVersion(deps.db);
      // Re-sign after a quarter of the lifetime so edges always hold a copy far from its expiry, and
      // rebuild when a scheduled price takes effect (no transaction bumps the version then).
      const now = deps.nowSeconds();
      const fresh =
        cached &&
        cached.version === version &&
        now - cached.issuedAt < deps.ttlSeconds / 4 &&
        (cached.nextPriceChangeAt === null || now < cached.nextPriceChangeAt);
      if (fresh) return cached!;
      inflight ??= rebuild().finally(() => {
        inflight = null;
      });
      let built = await inflight;
      // Joined a build that started before this caller saw `version`: build once more.
      if (built.version < version) built = await rebuild();
      if (!cached || built.version > cached.version || built.issuedAt >= cached.issuedAt) {
        if (cached !== built) previous = cached;
        cached = built;
      }
      return cached;
    },
  };
  return publisher;
}
