// Serves the signed manifest: rebuilt only when the version moved or the signed copy is getting
// old, shared by all concurrent node polls, and addressed by an ETag so an unchanged manifest
// costs a 304.

import { signManifest, type SigningKey } from '../../shared/manifest.ts';
import type { Database } from '../db.ts';
import { nextPriceChange, readManifestVersion } from '../sql/manifest.ts';
import { buildManifest } from './build.ts';

export interface SignedManifest {
  version: number;
  issuedAt: number;
  etag: string;
  jws: string;
  /** Epoch seconds when a scheduled price version takes effect: prices in the manifest change then. */
  nextPriceChangeAt: number | null;
}

export interface ManifestPublisher {
  current(): Promise<SignedManifest>;
}

export function createManifestPublisher(deps: {
  db: Database;
  signingKey: SigningKey;
  ttlSeconds: number;
  nowSeconds: () => number;
}): ManifestPublisher {
  let cached: SignedManifest | null = null;
  let inflight: Promise<SignedManifest> | null = null;

  async function rebuild(): Promise<SignedManifest> {
    const nowSeconds = deps.nowSeconds();
    const payload = await buildManifest(deps.db, { nowSeconds, ttlSeconds: deps.ttlSeconds });
    const jws = await signManifest(payload, deps.signingKey);
    const nextChange = await nextPriceChange(deps.db, new Date(nowSeconds * 1000));
    return {
      version: payload.version,
      issuedAt: payload.issued_at,
      etag: `"${payload.version}.${payload.issued_at}"`,
      jws,
      nextPriceChangeAt: nextChange === null ? null : Math.floor(nextChange.getTime() / 1000),
    };
  }

  return {
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
      if (!cached || built.version > cached.version || built.issuedAt >= cached.issuedAt) cached = built;
      return cached;
    },
  };
}
