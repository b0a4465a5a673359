// The control plane as the edge's manifest store sees it: a conditional GET that answers the
// published JWS (200 with an etag), 304 when the edge already holds it, or a failure on demand.

import type { ManifestFetchResult } from '../../../edge/manifest-store.ts';
import type { Deferred } from './deferred.ts';

export interface FakeControlPlane {
  fetchManifest: (etag: string | null) => Promise<ManifestFetchResult>;
  /** What the next fetches answer with. */
  publish: (jws: string) => void;
  /** Every later fetch throws, as a network error would. */
  goDown: () => void;
  /** The next fetches wait for this before answering. */
  holdUntil: (gate: Deferred<void> | null) => void;
  /** The etag each fetch presented, in order. */
  fetches: (string | null)[];
}

export function createFakeControlPlane(): FakeControlPlane {
  let published: { jws: string; etag: string } | null = null;
  let down = false;
  let gate: Deferred<void> | null = null;
  let revision = 0;
  const fetches: (string | null)[] = [];
  return {
    fetches,
    publish(jws) {
      revision++;
      published = { jws, etag: `"manifest-${revision}"` };
      down = false;
    },
    goDown() {
      down = true;
    },
    holdUntil(next) {
      gate = next;
    },
    async fetchManifest(etag) {
      fetches.push(etag);
      if (gate) await gate.promise;
      if (down || !published) throw new Error('control plane unreachable');
      if (etag !== null && etag === published.etag) return { status: 'not_modified' };
      return { status: 'ok', jws: published.jws, etag: published.etag };
    },
  };
}
