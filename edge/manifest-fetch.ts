// The edge's calls for the manifest: a snapshot (conditional, If-None-Match), or with a held
// version `?since=&issued_at=` for a signed delta, long-polled with `&wait=`; and a snapshot's key
// shards by digest.

import { MAX_SHARD_BYTES } from '../shared/manifest-shards.ts';
import { DEFAULT_MAX_MANIFEST_BYTES } from '../shared/manifest.ts';
import { readBounded } from './bounded-body.ts';
import type { ManifestFetchRequest, ManifestFetchResult } from './manifest-store.ts';
import type { NodeIdentity } from './node-identity.ts';

const CONTROL_PLANE_TIMEOUT_MS = 5000;

export async function fetchManifest(controlPlaneUrl: string, identity: NodeIdentity, etag: string | null, request?: ManifestFetchRequest): Promise<ManifestFetchResult> {
  const headers: Record<string, string> = { authorization: await identity.authorization() };
  if (etag) headers['if-none-match'] = etag;
  const url = new URL(`${controlPlaneUrl}/node/v1/manifest`);
  if (request?.since) {
    url.searchParams.set('since', String(request.since.version));
    url.searchParams.set('issued_at', String(request.since.issuedAt));
    if (request.waitSeconds > 0) url.searchParams.set('wait', String(request.waitSeconds));
  }
  const timeoutMs = CONTROL_PLANE_TIMEOUT_MS + (request?.waitSeconds ?? 0) * 1000;
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  if (response.status === 304) return { status: 'not_modified' };
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`manifest fetch answered ${response.status}`);
  }
  // Size is checked before anything is parsed: a hostile or broken answer cannot exhaust memory.
  const bytes = await readBounded(response, DEFAULT_MAX_MANIFEST_BYTES);
  if (!bytes) throw new Error(`manifest larger than ${DEFAULT_MAX_MANIFEST_BYTES} bytes refused`);
  return { status: 'ok', jws: new TextDecoder().decode(bytes), etag: response.headers.get('etag') };
}

/** One key shard of a snapshot, by the digest the snapshot names (checked by the caller). */
export async function fetchManifestShard(controlPlaneUrl: string, identity: NodeIdentity, sha256: string): Promise<string> {
  const response = await fetch(`${controlPlaneUrl}/node/v1/manifest/shards/${encodeURIComponent(sha256)}`, {
    headers: { authorization: await identity.authorization() },
    signal: AbortSignal.timeout(CONTROL_PLANE_TIMEOUT_MS * 6),
  });
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`manifest shard fetch answered ${response.status}`);
  }
  const bytes = await readBounded(response, MAX_SHARD_BYTES);
  if (!bytes) throw new Error(`manifest shard larger than ${MAX_SHARD_BYTES} bytes refused`);
  return new TextDecoder().decode(bytes);
}
