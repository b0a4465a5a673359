// Holds the last verified manifest of this edge node and keeps it fresh. Never a lower version;
// fail closed (503) after the hard expiry. Two refresh modes:
// - watch (production): one long-poll loop per isolate, started by the first request and kept in
//   that request's waitUntil; the control plane answers the moment the version moves, with a
//   signed delta from the held version. Requests never wait on it.
// - poll (tests, or a runtime that ends the loop): a conditional fetch in the background when the
//   last check is older than refreshMs.
// A request waits on the control plane only for the very first manifest (after trying the
// persisted copy), when the held one has expired, or after maxStaleMs without any refresh attempt
// (an idle isolate whose loop the runtime ended), bounded by blockingRefreshLimitMs.

import type { CryptoKey } from 'jose';
import { DEFAULT_MAX_MANIFEST_BYTES, type ManifestPayload } from '../shared/manifest.ts';
import { chainWantsSnapshot, replayChain, type HeldManifest, type PersistedChain, type ShardSource, verifySigned } from './manifest-chain.ts';
import { settledOnOwnTimers } from './own-timer-wait.ts';

export type ManifestFetchResult = { status: 'not_modified' } | { status: 'ok'; jws: string; etag: string | null };

/** Ask for what changed since the held version; with waitSeconds, the control plane may hold the request that long. */
export interface ManifestFetchRequest {
  since: { version: number; issuedAt: number } | null;
  waitSeconds: number;
}

/**
 * The last verified manifest as signed bytes, kept across restarts of the edge process: the
 * snapshot, its key shards, then the deltas applied since. A new snapshot is staged document by
 * document (no need to hold all its shards at once) and replaces the old chain only on commit.
 */
export interface ManifestPersistence {
  load(): Promise<PersistedChain | null>;
  begin(snapshot: string): Promise<void>;
  addShard(shard: string): Promise<void>;
  commit(): Promise<void>;
  append(delta: string): Promise<void>;
}

export interface ManifestStoreOptions {
  /** One GET of the manifest; throws on network errors and unexpected statuses. */
  fetchManifest: (etag: string | null, request?: ManifestFetchRequest) => Promise<ManifestFetchResult>;
  /** One key shard by its digest (manifest-shards.ts); throws on network errors and unexpected statuses. */
  fetchShard?: (sha256: string) => Promise<string>;
  publicKeys: Readonly<Record<string, CryptoKey>>;
  nowMs: () => number;
  refreshMs: number;
  maxStaleMs: number;
  maxBytes?: number;
  /** How long a request waits for a refresh after an idle period (default 2 s). */
  blockingRefreshLimitMs?: number;
  /** Long-poll loop; absent = poll on traffic only. */
  watch?: { waitSeconds: number; retryMs: number };
  persistence?: ManifestPersistence;
  log?: (msg: string, fields?: Record<string, string | number>) => void;
}

export interface ManifestStore {
  /** The manifest to serve this request with, or null: fail closed (503). */
  current(waitUntil: (p: Promise<unknown>) => void): Promise<ManifestPayload | null>;
  /** Fetch now (used by tests and at startup). */
  refresh(): Promise<void>;
}

const BLOCKING_REFRESH_LIMIT_MS = 2000;

const isNewer = (a: ManifestPayload, b: ManifestPayload) => a.version > b.version || (a.version === b.version && a.issued_at > b.issued_at);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));


export function createManifestStore(options: ManifestStoreOptions): ManifestStore {
  let held: HeldManifest | null = null;
  let etag: string | null = null;
  let lastAttemptMs = -Infinity;
  let pollOpen = false;
  let wantSnapshot = false;
  let inflight: Promise<boolean> | null = null;
  let loaded: Promise<void> | null = null;
  let watching = false;
  const log = options.log ?? (() => {});
  const chainOptions = () => ({ publicKeys: options.publicKeys, nowSeconds: Math.floor(options.nowMs() / 1000), maxBytes: options.maxBytes ?? DEFAULT_MAX_MANIFEST_BYTES });

  async function loadPersisted(): Promise<void> {
    const chain = await options.persistence?.load().catch((err: unknown) => log('manifest load failed', { error: String(err) }));
    if (!chain || held) return;
    held = await replayChain(chain, chainOptions());
    log(held ? 'manifest restored from edge storage' : 'persisted manifest refused', held ? { version: held.manifest.version } : {});
  }

  const persistFailed = (err: unknown) => log('manifest persist failed', { error: String(err) });

  /**
   * Shards from the control plane; each verified document is staged in the vault as it passes.
   * The vault has one staging area, so one snapshot at a time is staged: a second one verified
   * meanwhile (the long-poll loop and a refresh both got one) is `dropped`, never interleaved
   * with the first, whose commit would otherwise seal a chain of both that fails its replay after
   * a restart. The first lands; the next fetch brings whatever is newer as a delta.
   */
  let staging: object | null = null;
  function shardSource(staged: { ok: boolean; dropped: boolean }): ShardSource {
    const persistence = options.persistence;
    return {
      read: (ref) => (options.fetchShard ? options.fetchShard(ref.sha256) : Promise.reject(new Error('no shard source'))),
      keep: async (doc, index) => {
        if (!persistence || !staged.ok) return;
        if (index === 0) {
          if (staging !== null && staging !== staged) {
            staged.ok = false;
            staged.dropped = true;
            return;
          }
          staging = staged;
        }
        await (index === 0 ? persistence.begin(doc) : persistence.addShard(doc)).catch((err: unknown) => {
          staged.ok = false;
          persistFailed(err);
        });
      },
    };
  }

  /** One fetch; true when the control plane answered (200 or 304). */
  async function fetchAndVerify(waitSeconds: number): Promise<boolean> {
    lastAttemptMs = options.nowMs();
    const base = held && !wantSnapshot && !chainWantsSnapshot(held.chain) ? held.manifest : null;
    const request: ManifestFetchRequest = { since: base ? { version: base.version, issuedAt: base.issued_at } : null, waitSeconds };
    let result: ManifestFetchResult;
    pollOpen = waitSeconds > 0;
    try {
      result = await options.fetchManifest(etag, request);
    } catch (err) {
      log('manifest fetch failed', { error: err instanceof Error ? err.message : String(err) });
      return false;
    } finally {
      pollOpen = false;
      lastAttemptMs = options.nowMs();
    }
    if (result.status === 'not_modified') return true;
    // Another fetch moved the held version meanwhile: this answer was for an older base.
    if (base && held?.manifest !== base) return true;
    const staged = { ok: true, dropped: false };
    try {
      return await accept(result, staged);
    } finally {
      if (staging === staged) staging = null;
    }
  }

  async function accept(result: Extract<ManifestFetchResult, { status: 'ok' }>, staged: { ok: boolean; dropped: boolean }): Promise<boolean> {
    const from = held;
    const verified = await verifySigned(result.jws, from, chainOptions(), shardSource(staged));
    if (staged.dropped) return true;
    if (!verified.ok) {
      log('manifest rejected', { reason: verified.reason });
      if (verified.reason === 'wrong_base') wantSnapshot = true;
      // A shard that could not be fetched or did not match: try again after the retry pause.
      return verified.reason !== 'bad_shard';
    }
    // Another fetch (the long-poll loop and a refresh overlap) replaced the held manifest while
    // this one was verified: a sharded snapshot takes seconds at 1M keys. A delta was verified
    // against the manifest held before, so it is dropped (the next fetch starts from the new one);
    // a snapshot, which has its own key map, only when it is not newer.
    if (held !== from && (verified.kind === 'delta' || (held && !isNewer(verified.held.manifest, held.manifest)))) return true;
    // No await between that check and the swap: a delta updates the held key map in place (a copy
    // per delta would cost hundreds of ms of CPU and twice the heap at 1M keys), so it must be
    // applied only to the manifest it was verified against, and nothing may interleave. An
    // update that lost this check has changed nothing.
    held = verified.kind === 'delta' ? verified.apply() : verified.held;
    etag = result.etag;
    wantSnapshot = false;
    if (held.chain.deltas > 0) await options.persistence?.append(result.jws).catch(persistFailed);
    else if (staged.ok) await options.persistence?.commit().catch(persistFailed);
    return true;
  }

  function refresh(): Promise<boolean> {
    inflight ??= (loaded ??= loadPersisted()).then(() => fetchAndVerify(0)).finally(() => {
      inflight = null;
    });
    return inflight;
  }

  async function watchLoop(watch: NonNullable<ManifestStoreOptions['watch']>): Promise<void> {
    for (;;) {
      // Never wait past the point where the control plane renews the held copy (a quarter of its life).
      const m = held?.manifest;
      const renewIn = m ? m.issued_at + (m.expires_at - m.issued_at) / 4 - options.nowMs() / 1000 : 0;
      const wait = held && usable(options.nowMs()) ? Math.max(0, Math.min(watch.waitSeconds, Math.floor(renewIn) + 1)) : 0;
      if (!(await fetchAndVerify(wait))) await sleep(watch.retryMs);
    }
  }

  function usable(nowMs: number): boolean {
    return held !== null && held.manifest.expires_at * 1000 > nowMs;
  }

  const served = () => (usable(options.nowMs()) ? held!.manifest : null);

  return {
    refresh: async () => void (await refresh()),
    async current(waitUntil) {
      const now = options.nowMs();
      if (!usable(now)) {
        // Every refresh is handed to waitUntil, also those a request waits for: the runtime must
        // not cancel a fetch that other requests (sharing `inflight`) are waiting on.
        const work = (loaded ??= loadPersisted()).then(() => (usable(options.nowMs()) ? undefined : refresh()));
        waitUntil(work);
        // Shared with other requests (a node's first requests all wait for one load): resumed by
        // this request's own timers, never by the request whose load settles it (own-timer-wait.ts).
        await settledOnOwnTimers(work);
      }
      if (options.watch && !watching && held) {
        watching = true;
        waitUntil(watchLoop(options.watch).finally(() => (watching = false)));
      }
      const sinceAttempt = pollOpen ? 0 : now - lastAttemptMs;
      if (sinceAttempt >= options.maxStaleMs) {
        // Idle for long: a revocation may be waiting. Wait for one refresh, but never for long.
        const work = refresh();
        waitUntil(work);
        await settledOnOwnTimers(work, { timeoutMs: options.blockingRefreshLimitMs ?? BLOCKING_REFRESH_LIMIT_MS });
      } else if (!watching && sinceAttempt >= options.refreshMs) {
        waitUntil(refresh());
      }
      return served();
    },
  };
}
