// Sharded snapshots at the edge, inside workerd: a snapshot whose keys travel in shards serves
// every key once each shard has been fetched and checked; a shard that is missing, tampered or
// unreachable refuses the snapshot (the held one keeps serving); the vault stages a new snapshot
// and its shards and replaces the old chain only when all of them passed.
import { describe, expect, it } from 'vitest';
import { acceptSigned, replayChain, type PersistedChain } from '../../edge/manifest-chain.ts';
import { createManifestStore, type ManifestPersistence } from '../../edge/manifest-store.ts';
import { encodeKeyShards } from '../../shared/manifest-shards.ts';
import type { ManifestPayload } from '../../shared/manifest.ts';
import { createClock } from './support/clock.ts';
import { deferred } from './support/deferred.ts';
import { buildManifest, createSigner, mintKey, sign, type MintedKey, type Signer } from './support/manifest-builder.ts';

/** The manifest as the control plane publishes it above the shard threshold: keys only in shards. */
async function sharded(payload: ManifestPayload, signer: Signer, perShard: number) {
  const { refs, bodies } = await encodeKeyShards(payload.keys, perShard);
  const jws = await sign({ ...payload, keys: {}, key_shards: refs }, signer);
  return { jws, refs, bodies };
}

async function mintKeys(n: number): Promise<MintedKey[]> {
  return Promise.all(Array.from({ length: n }, () => mintKey()));
}

/** What the vault does, in memory: a committed chain and a staged one. */
function memoryPersistence() {
  let committed: string[] = [];
  let staged: string[] | null = null;
  const persistence: ManifestPersistence = {
    load: async () => (committed.length === 0 ? null : ({ length: committed.length, read: async (i) => committed[i]! } satisfies PersistedChain)),
    begin: async (snapshot) => void (staged = [snapshot]),
    addShard: async (shard) => void staged!.push(shard),
    commit: async () => {
      committed = staged!;
      staged = null;
    },
    append: async (delta) => void committed.push(delta),
  };
  return { persistence, committed: () => committed, staged: () => staged };
}

describe('sharded manifest snapshots at the edge', () => {
  it('loads every key from the shards the signed snapshot names, and replays the same state from persisted documents', async () => {
    const signer = await createSigner();
    const clock = createClock();
    const keys = await mintKeys(7);
    const payload = buildManifest({ version: 3, nowSeconds: clock.nowSeconds(), keys });
    const { jws, refs, bodies } = await sharded(payload, signer, 3);
    expect(refs).toHaveLength(3);
    const options = { publicKeys: signer.publicKeys, nowSeconds: clock.nowSeconds(), maxBytes: 1 << 20 };
    const reads: number[] = [];
    const accepted = await acceptSigned(jws, null, options, { read: async (ref, i) => (reads.push(i), bodies.get(ref.sha256)!) });
    if (!accepted.ok) throw new Error(accepted.reason);
    expect(reads).toEqual([1, 2, 3]);
    expect(accepted.held.manifest.keys).toEqual(payload.keys);
    expect(accepted.held.chain.snapshotBytes).toBe(jws.length + [...bodies.values()].reduce((n, b) => n + b.length, 0));

    const replayed = await replayChain([jws, ...refs.map((r) => bodies.get(r.sha256)!)], options);
    expect(replayed?.manifest.keys).toEqual(payload.keys);
    // A persisted chain that lost a shard, or holds one in the wrong place, is refused.
    expect(await replayChain([jws, bodies.get(refs[0]!.sha256)!, bodies.get(refs[1]!.sha256)!], options)).toBeNull();
    expect(await replayChain([jws, bodies.get(refs[1]!.sha256)!, bodies.get(refs[0]!.sha256)!, bodies.get(refs[2]!.sha256)!], options)).toBeNull();
  });

  it('refuses the snapshot when a shard is tampered, missing or unreachable, and without a shard source', async () => {
    const signer = await createSigner();
    const clock = createClock();
    const { jws, bodies } = await sharded(buildManifest({ version: 3, nowSeconds: clock.nowSeconds(), keys: await mintKeys(4) }), signer, 2);
    const options = { publicKeys: signer.publicKeys, nowSeconds: clock.nowSeconds(), maxBytes: 1 << 20 };
    const tampered = async (ref: { sha256: string }) => bodies.get(ref.sha256)!.replace(/"[0-9a-f]{64}"/, `"${'0'.repeat(64)}"`);
    expect(await acceptSigned(jws, null, options, { read: tampered })).toEqual({ ok: false, reason: 'bad_shard' });
    expect(await acceptSigned(jws, null, options, { read: async () => Promise.reject(new Error('404')) })).toEqual({ ok: false, reason: 'bad_shard' });
    expect(await acceptSigned(jws, null, options)).toEqual({ ok: false, reason: 'bad_shard' });
  });

  it('serves the held manifest while a new snapshot cannot get its shards, stages it in the vault, and commits it only once complete', async () => {
    const signer = await createSigner();
    const clock = createClock();
    const [kept, revoked, added] = await mintKeys(3);
    const v1 = await sharded(buildManifest({ version: 1, nowSeconds: clock.nowSeconds(), keys: [kept!, revoked!] }), signer, 1);
    const v2 = await sharded(buildManifest({ version: 2, nowSeconds: clock.nowSeconds(), keys: [kept!, added!] }), signer, 1);
    let published = v1;
    let shardsDown = false;
    const vault = memoryPersistence();
    const store = createManifestStore({
      fetchManifest: async () => ({ status: 'ok', jws: published.jws, etag: null }),
      fetchShard: async (sha256) => {
        if (shardsDown) throw new Error('control plane unreachable');
        const body = published.bodies.get(sha256);
        if (body === undefined) throw new Error('404');
        return body;
      },
      persistence: vault.persistence,
      publicKeys: signer.publicKeys,
      nowMs: clock.nowMs,
      refreshMs: 1000,
      maxStaleMs: 60_000,
    });
    const hashesServed = async () => Object.keys((await store.current(() => {}))?.keys ?? {}).sort();

    await store.refresh();
    expect(await hashesServed()).toEqual([kept!.hash, revoked!.hash].sort());
    expect(vault.committed()).toEqual([v1.jws, ...v1.refs.map((r) => v1.bodies.get(r.sha256)!)]);

    published = v2;
    shardsDown = true;
    await store.refresh();
    // v2's snapshot was staged but never committed; v1 serves and stays the persisted chain.
    expect(await hashesServed()).toEqual([kept!.hash, revoked!.hash].sort());
    expect(vault.staged()).toEqual([v2.jws]);
    expect(vault.committed()[0]).toBe(v1.jws);

    shardsDown = false;
    await store.refresh();
    expect(await hashesServed()).toEqual([kept!.hash, added!.hash].sort());
    expect(vault.committed()).toEqual([v2.jws, ...v2.refs.map((r) => v2.bodies.get(r.sha256)!)]);
    // A restarted edge rebuilds v2 from the vault alone.
    const restarted = createManifestStore({
      fetchManifest: async () => Promise.reject(new Error('control plane down')),
      persistence: vault.persistence,
      publicKeys: signer.publicKeys,
      nowMs: clock.nowMs,
      refreshMs: 1000,
      maxStaleMs: 60_000,
    });
    expect(Object.keys((await restarted.current(() => {}))?.keys ?? {}).sort()).toEqual([kept!.hash, added!.hash].sort());
  });

  it('drops a snapshot whose shards finished loading after a newer manifest was accepted meanwhile', async () => {
    const signer = await createSigner();
    const clock = createClock();
    const [a, b, c] = await mintKeys(3);
    const v1 = await sign(buildManifest({ version: 1, nowSeconds: clock.nowSeconds(), keys: [a!] }), signer);
    const v2 = await sharded(buildManifest({ version: 2, nowSeconds: clock.nowSeconds(), keys: [a!, b!] }), signer, 1);
    const v3 = await sign(buildManifest({ version: 3, nowSeconds: clock.nowSeconds(), keys: [a!, c!] }), signer);
    const shardsHeld = deferred();
    let watchCalls = 0;
    let plain = v1;
    const store = createManifestStore({
      // The long-poll loop gets v2 (slow shards), then waits forever; plain fetches get `plain`.
      fetchManifest: async (_etag, request) => {
        if (!request?.waitSeconds) return { status: 'ok', jws: plain, etag: null };
        return watchCalls++ === 0 ? { status: 'ok', jws: v2.jws, etag: null } : new Promise(() => {});
      },
      fetchShard: async (sha256) => (await shardsHeld.promise, v2.bodies.get(sha256)!),
      publicKeys: signer.publicKeys,
      nowMs: clock.nowMs,
      refreshMs: 1000,
      maxStaleMs: 30_000,
      watch: { waitSeconds: 20, retryMs: 10 },
    });
    const background: Promise<unknown>[] = [];
    const served = async () => Object.keys((await store.current((p) => background.push(p)))?.keys ?? {}).sort();

    expect(await served()).toEqual([a!.hash]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(watchCalls).toBe(1);
    // While v2's shards load, a refresh after a long idle accepts v3.
    plain = v3;
    clock.advance(31_000);
    expect(await served()).toEqual([a!.hash, c!.hash].sort());
    shardsHeld.resolve();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await served()).toEqual([a!.hash, c!.hash].sort());
  });
});
