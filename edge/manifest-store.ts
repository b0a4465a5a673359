// Holds the last verified manifest of this edge node and keeps it fresh: background refresh on
// traffic, conditional fetch (304 when unchanged), never a lower version, fail closed after the
// hard expiry. No request waits on the control plane except the very first one, a request after a
// long idle period (bounded by a timeout), or one arriving when the held manifest has expired.

import type { CryptoKey } from 'jose';
import { DEFAULT_MAX_MANIFEST_BYTES, verifyManifest, type ManifestPayload } from '../shared/manifest.ts';

export type ManifestFetchResult = { status: 'not_modified' } | { status: 'ok'; jws: string; etag: string | null };

export interface ManifestStoreOptions {
  /** One conditional GET of the manifest; throws on network errors and unexpected statuses. */
  fetchManifest: (etag: string | null) => Promise<ManifestFetchResult>;
  publicKeys: Readonly<Record<string, CryptoKey>>;
  nowMs: () => number;
  refreshMs: number;
  maxStaleMs: number;
  maxBytes?: number;
  /** How long a request waits for a refresh after an idle period (default 2 s). */
  blockingRefreshLimitMs?: number;
  log?: (msg: string, fields?: Record<string, string | number>) => void;
}

export interface ManifestStore {
  /** The manifest to serve this request with, or null: fail closed (503). */
  current(waitUntil: (p: Promise<unknown>) => void): Promise<ManifestPayload | null>;
  /** Fetch now (used by tests and at startup). */
  refresh(): Promise<void>;
}

const BLOCKING_REFRESH_LIMIT_MS = 2000;

async function withTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  if (timer !== undefined) clearTimeout(timer);
}

export function createManifestStore(options: ManifestStoreOptions): ManifestStore {
  let held: ManifestPayload | null = null;
  let etag: string | null = null;
  let lastAttemptMs = -Infinity;
  let inflight: Promise<void> | null = null;
  const log = options.log ?? (() => {});

  async function fetchAndVerify(): Promise<void> {
    lastAttemptMs = options.nowMs();
    let result: ManifestFetchResult;
    try {
      result = await options.fetchManifest(etag);
    } catch (err) {
      log('manifest fetch failed', { error: err instanceof Error ? err.message : String(err) });
      return;
    }
    if (result.status === 'not_modified') return;
    const verified = await verifyManifest(result.jws, {
      publicKeys: options.publicKeys,
      nowSeconds: Math.floor(options.nowMs() / 1000),
      maxBytes: options.maxBytes ?? DEFAULT_MAX_MANIFEST_BYTES,
      ...(held ? { current: held } : {}),
    });
    if (!verified.ok) {
      log('manifest rejected', { reason: verified.reason });
      return;
    }
    held = verified.manifest;
    etag = result.etag;
  }

  function refresh(): Promise<void> {
    inflight ??= fetchAndVerify().finally(() => {
      inflight = null;
    });
    return inflight;
  }

  function usable(nowMs: number): boolean {
    return held !== null && held.expires_at * 1000 > nowMs;
  }

  return {
    refresh,
    async current(waitUntil) {
      const now = options.nowMs();
      // Every refresh is handed to waitUntil, also the ones a request waits for: the runtime must
      // not cancel a fetch that other requests (sharing `inflight`) are waiting on when this one ends.
      if (!usable(now)) {
        const work = refresh();
        waitUntil(work);
        await work;
        return usable(options.nowMs()) ? held : null;
      }
      const sinceAttempt = now - lastAttemptMs;
      if (sinceAttempt >= options.maxStaleMs) {
        // Idle for long: a revocation may be waiting. Wait for one refresh, but never for long.
        const work = refresh();
        waitUntil(work);
        await withTimeout(work, options.blockingRefreshLimitMs ?? BLOCKING_REFRESH_LIMIT_MS);
      } else if (sinceAttempt >= options.refreshMs) {
        waitUntil(refresh());
      }
      return usable(options.nowMs()) ? held : null;
    },
  };
}
