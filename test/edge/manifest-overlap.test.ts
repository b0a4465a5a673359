// Two manifest fetches in flight at once (the long-poll loop and a refresh), both from the same
// held version: whichever order their answers land in, the edge ends on the newer manifest, and an
// older delta never changes the held key map.
import { describe, expect, it } from 'vitest';
import { createManifestStore, type ManifestFetchRequest, type ManifestFetchResult } from '../../edge/manifest-store.ts';
import { signManifestDelta } from '../../shared/manifest-delta.ts';
import type { ManifestPayload } from '../../shared/manifest.ts';
import { createClock } from './support/clock.ts';
import { deferred, type Deferred } from './support/deferred.ts';
import { buildManifest, createSigner, deltaBetween, mintKey, sign } from './support/manifest-builder.ts';

const tick = (ms = 10) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An edge holding v1 with its long-poll and a refresh both waiting on the control plane; each
 * fetch's answer is released by hand. v2 changes both keys; v3 changes `kept` again and revokes
 * `revoked`.
 */
async function twoFetchesFromV1() {
  const signer = await createSigner();
  const clock = createClock();
  const now = clock.nowSeconds();
  const kept = await mintKey({ rate_limit_rpm: 10 });
  const revoked = await mintKey({ rate_limit_rpm: 10 });
  const v1 = buildManifest({ version: 1, nowSeconds: now, keys: [kept, revoked] });
  const v2 = buildManifest({ version: 2, nowSeconds: now, keys: [{ ...kept, entry: { ...kept.entry, rate_limit_rpm: 20 } }, { ...revoked, entry: { ...revoked.entry, rate_limit_rpm: 20 } }] });
  const v3 = buildManifest({ version: 3, nowSeconds: now, keys: [{ ...kept, entry: { ...kept.entry, rate_limit_rpm: 30 } }] });
  const fetches: { request: ManifestFetchRequest | undefined; answer: Deferred<ManifestFetchResult> }[] = [];
  const answer = async (from: ManifestPayload, to: ManifestPayload): Promise<ManifestFetchResult> => ({ status: 'ok', jws: await signManifestDelta(deltaBetween(from, to), signer), etag: null });
  let controlPlaneAtV3 = false;
  const store = createManifestStore({
    fetchManifest: (_etag, request) => {
      // Once released: what the control plane at v3 answers (a long-poll from v3 is held).
      const since = request?.since?.version;
      if (controlPlaneAtV3) return since === 3 ? new Promise(() => {}) : answer(since === 2 ? v2 : v1, v3);
      const held = deferred<ManifestFetchResult>();
      fetches.push({ request, answer: held });
      return held.promise;
    },
    publicKeys: signer.publicKeys,
    nowMs: clock.nowMs,
    refreshMs: 1000,
    maxStaleMs: 30_000,
    watch: { waitSeconds: 20, retryMs: 10 },
  });
  const served = async () => store.current(() => {});

  const first = store.refresh();
  await tick();
  fetches[0]!.answer.resolve({ status: 'ok', jws: await sign(v1, signer), etag: null });
  await first;
  expect((await served())?.version).toBe(1); // starts the long-poll loop
  void store.refresh();
  await tick();
  const [watch, refresh] = fetches.slice(1);
  expect([watch?.request?.waitSeconds, refresh?.request?.waitSeconds]).toEqual([20, 0]);
  expect([watch?.request?.since?.version, refresh?.request?.since?.version]).toEqual([1, 1]);
  const [toV2, toV3] = [await answer(v1, v2), await answer(v1, v3)];
  return {
    v3,
    served,
    /** Releases the two held answers in this order; later fetches get what a control plane at v3 answers. */
    async release(order: 'newer first' | 'older first') {
      controlPlaneAtV3 = true;
      const answers = [{ held: refresh!.answer, result: toV3 }, { held: watch!.answer, result: toV2 }];
      if (order === 'older first') answers.reverse();
      // Released in the same turn: both pass the store's "still from the held version" check
      // before either has been verified.
      for (const { held, result } of answers) held.resolve(result);
      await tick();
    },
  };
}

describe('overlapping manifest fetches', () => {
  // 'newer first': a revoked key stays out and a changed key changed when the older delta from
  // the same base lands just after the newer one. 'older first': the order that always worked.
  it.each(['newer first', 'older first'] as const)('ends on the newer manifest, keys and all, when the two deltas from one base land %s', async (order) => {
    const { release, v3, served } = await twoFetchesFromV1();

    await release(order);

    const manifest = await served();
    expect(manifest?.version).toBe(3);
    expect(manifest?.keys).toEqual(v3.keys);
  });
});

describe('overlapping snapshot loads and the vault', () => {
  it('stages one snapshot at a time: the vault commits exactly the snapshot held, never a mix of two', async () => {
    const signer = await createSigner();
    const clock = createClock();
    const now = clock.nowSeconds();
    const key = await mintKey({});
    const [v1, v2, v3] = [1, 2, 3].map((version) => buildManifest({ version, nowSeconds: now, keys: [key] }));
    const pending: Deferred<ManifestFetchResult>[] = [];
    const vault: [string, string?][] = [];
    const store = createManifestStore({
      fetchManifest: () => {
        const held = deferred<ManifestFetchResult>();
        pending.push(held);
        return held.promise;
      },
      publicKeys: signer.publicKeys,
      nowMs: clock.nowMs,
      refreshMs: 1000,
      maxStaleMs: 30_000,
      watch: { waitSeconds: 20, retryMs: 10 },
      persistence: {
        load: async () => null,
        begin: async (doc) => void vault.push(['begin', doc]),
        addShard: async (doc) => void vault.push(['shard', doc]),
        commit: async () => void vault.push(['commit']),
        append: async (doc) => void vault.push(['append', doc]),
      },
    });
    const first = store.refresh();
    await tick();
    pending[0]!.resolve({ status: 'ok', jws: await sign(v1!, signer), etag: null });
    await first;
    await store.current(() => {}); // starts the long-poll loop
    void store.refresh();
    await tick();
    expect(pending).toHaveLength(3);
    // Both the long-poll and the refresh are answered a snapshot, in the same turn.
    const [jws2, jws3] = [await sign(v2!, signer), await sign(v3!, signer)];
    pending[1]!.resolve({ status: 'ok', jws: jws2, etag: null });
    pending[2]!.resolve({ status: 'ok', jws: jws3, etag: null });
    await tick(50);

    const held = await store.current(() => {});
    const begun = vault.filter(([op]) => op === 'begin').map(([, doc]) => doc);
    const lastBegin = vault.map(([op]) => op).lastIndexOf('begin');
    expect(vault.slice(lastBegin + 1).map(([op]) => op)).toEqual(['commit']);
    // What the vault committed last is the snapshot the node serves.
    expect(begun.at(-1)).toBe(held?.version === 2 ? jws2 : jws3);
    expect(begun).toHaveLength(2); // the first snapshot, then one of the two: never both
  });
});
