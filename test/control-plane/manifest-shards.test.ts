// Key shards from the control plane on a real database: above the shard threshold the signed
// snapshot names its shards by digest and carries no key inline; each shard is served by its
// digest (node token required) while its snapshot is current or the one before; the keys they
// hold are exactly the keys a snapshot would carry inline.

import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManifestPublisher } from '../../control-plane/manifest/publisher.ts';
import { hashToken } from '../../shared/api-key.ts';
import { decodeKeyShard, shardDigest } from '../../shared/manifest-shards.ts';
import { verifyManifest, type KeyEntry } from '../../shared/manifest.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';

let h: Harness;
let orgId: string;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  h = await createHarness(undefined, { manifestShardKeys: 2 });
  orgId = ((await (await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: { name: 'Shards' } })).json()) as { id: string }).id;
}, 60_000);
afterAll(() => h?.close());

const nodeGet = async (path: string) => h.request('GET', path, { headers: { authorization: await h.nodeAuthorization() } });
const created: string[] = [];
async function createKey(name: string) {
  const key = (await (await h.request('POST', '/v1/manage/keys', { token: h.ownerToken, body: { org_id: orgId, name } })).json()) as { id: string; key: string };
  created.push(key.id);
  return key;
}

async function snapshot() {
  const verified = await verifyManifest(await (await nodeGet('/node/v1/manifest')).text(), { publicKeys: { test: h.manifestPublicKey }, nowSeconds: now() });
  if (!verified.ok) throw new Error(verified.reason);
  return verified.manifest;
}

describe('sharded manifest snapshots', () => {
  it('carries keys inline up to the threshold, and above it only in shards served by digest', async () => {
    const first = await createKey('one');
    const small = await snapshot();
    expect(small.key_shards).toEqual([]);
    expect(small.keys[await hashToken(first.key)]).toMatchObject({ id: first.id });

    const more = [await createKey('two'), await createKey('three'), await createKey('four'), await createKey('five')];
    const big = await snapshot();
    expect(big.keys).toEqual({});
    expect(big.key_shards.map((s) => s.keys)).toEqual([2, 2, 1]);

    const keys: Record<string, KeyEntry> = {};
    const strings = new Map<string, string>();
    for (const ref of big.key_shards) {
      const res = await nodeGet(`/node/v1/manifest/shards/${ref.sha256}`);
      expect(res.status).toBe(200);
      const body = await res.text();
      expect(await shardDigest(body)).toBe(ref.sha256);
      expect(await decodeKeyShard(body, ref, keys, strings)).toBe(true);
    }
    for (const k of [first, ...more]) expect(keys[await hashToken(k.key)]).toMatchObject({ id: k.id, org_id: orgId });
    expect(Object.keys(keys)).toHaveLength(5);
    // No raw key anywhere on the wire.
    expect(JSON.stringify(big)).not.toContain(first.key.slice(5));
  });

  it('keeps the previous snapshot’s shards for edges still fetching them, forgets older ones, and refuses callers without a node token', async () => {
    const old = await snapshot();
    // Every key of the old snapshot is revoked, so none of its shards can be part of a later one.
    for (const id of created.splice(0)) expect((await h.request('POST', `/v1/manage/keys/${id}/revoke`, { token: h.ownerToken })).status).toBe(200);
    await createKey('a');
    await createKey('b');
    await createKey('c');
    const next = await snapshot();
    expect(next.key_shards.some((s) => old.key_shards.some((o) => o.sha256 === s.sha256))).toBe(false);
    const oldShard = old.key_shards[0]!.sha256;
    expect((await nodeGet(`/node/v1/manifest/shards/${oldShard}`)).status).toBe(200);

    await createKey('d');
    const latest = await snapshot();
    expect(latest.version).toBeGreaterThan(next.version);
    const gone = await nodeGet(`/node/v1/manifest/shards/${oldShard}`);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ error: { code: 'not_found' } });
    expect((await nodeGet(`/node/v1/manifest/shards/${next.key_shards[0]!.sha256}`)).status).toBe(200);

    expect((await h.request('GET', `/node/v1/manifest/shards/${latest.key_shards[0]!.sha256}`)).status).toBe(401);
    expect((await nodeGet('/node/v1/manifest/shards/not-a-digest')).status).toBe(404);
  });

  it('cuts the same shards on another control-plane replica, which serves them without having been asked for the snapshot', async () => {
    await createKey('r1');
    await createKey('r2');
    await createKey('r3');
    const snap = await snapshot();
    // A second replica on the same database, with its own signing key and nothing built yet.
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const replica = createManifestPublisher({ db: h.testDb.db, signingKey: { kid: 'replica', privateKey }, ttlSeconds: 600, nowSeconds: now, shardKeys: 2 });
    const hashes: string[] = [];
    for (const ref of snap.key_shards) {
      const here = await (await nodeGet(`/node/v1/manifest/shards/${ref.sha256}`)).text();
      expect(await replica.shard(ref.sha256)).toBe(here);
      hashes.push(...(JSON.parse(here) as { keys: [string][] }).keys.map((row) => row[0]));
    }
    // The order that makes replicas agree: by key hash, across shards, whatever the rows' order on disk.
    expect(hashes).toEqual([...hashes].sort());
    expect((await replica.current()).shards.size).toBe(snap.key_shards.length);
    expect(await replica.shard('A'.repeat(43))).toBeNull();
  });
});
