// Key shards: what the control plane encodes is what the edge decodes, and a shard that does not
// match the digest and count its signed snapshot names, or is malformed, is refused whole.
import { describe, expect, it } from 'vitest';
import { decodeKeyShard, encodeKeyShards, MAX_SHARD_BYTES, shardDigest } from '../../shared/manifest-shards.ts';
import type { KeyEntry, KeyShardRef } from '../../shared/manifest.ts';

const hash = (i: number) => i.toString(16).padStart(64, '0');

function entry(i: number): KeyEntry {
  return {
    id: `key-${i}`,
    org_id: `org-${i % 3}`,
    owner_id: i % 4 === 0 ? null : `user-${i % 5}`,
    allowed_models: i % 2 === 0 ? ['m-a', 'm-b'] : [],
    allowed_regions: i % 2 === 0 ? ['EU'] : [],
    allowed_suppliers: [],
    expires_at: i % 3 === 0 ? 1_900_000_000 + i : null,
    budget: i % 2 === 0 ? { limit_micros: 5_000_000, period: 'monthly' } : null,
    owner_budget: null,
    rate_limit_rpm: i % 2 === 0 ? 60 : null,
    rate_limit_tpm: null,
  };
}

const keysOf = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [hash(i), entry(i)]));

async function decodeAll(bodies: Map<string, string>, refs: KeyShardRef[]) {
  const into: Record<string, KeyEntry> = {};
  const strings = new Map<string, string>();
  for (const ref of refs) expect(await decodeKeyShard(bodies.get(ref.sha256)!, ref, into, strings)).toBe(true);
  return into;
}

describe('key shards', () => {
  it('round-trips every key across shards of the given size, sharing policies and ids between keys', async () => {
    const keys = keysOf(25);
    const { refs, bodies } = await encodeKeyShards(keys, 10);
    expect(refs.map((r) => r.keys)).toEqual([10, 10, 5]);
    expect(bodies.size).toBe(3);
    for (const ref of refs) expect(await shardDigest(bodies.get(ref.sha256)!)).toBe(ref.sha256);
    const decoded = await decodeAll(bodies, refs);
    expect(decoded).toEqual(keys);
    // Two keys with one policy share its objects rather than holding copies.
    expect(decoded[hash(0)]!.allowed_models).toBe(decoded[hash(2)]!.allowed_models);
    expect(decoded[hash(0)]!.budget).toBe(decoded[hash(2)]!.budget);
    // Each distinct policy is written once per shard.
    expect(JSON.parse(bodies.get(refs[0]!.sha256)!).policies).toHaveLength(2);
  });

  it('closes a shard early when keys with long allow-lists would make it too big, and still round-trips', async () => {
    const keys = keysOf(40);
    // Every key its own policy of ~2 KB: 40 keys are ~80 KB, shards aim at 20 KB.
    for (const [i, entry] of Object.values(keys).entries()) entry.allowed_models = Array.from({ length: 60 }, (_, m) => `vendor/model-${i}-${m}-with-a-long-name`);
    const { refs, bodies } = await encodeKeyShards(keys, 1000, 20_000);
    expect(refs.length).toBeGreaterThanOrEqual(4);
    for (const body of bodies.values()) expect(body.length).toBeLessThan(20_000 + 3_000);
    expect(refs.reduce((n, r) => n + r.keys, 0)).toBe(40);
    expect(await decodeAll(bodies, refs)).toEqual(keys);
  });

  it('encodes no shard for no keys', async () => {
    expect(await encodeKeyShards({}, 10)).toEqual({ refs: [], bodies: new Map() });
  });

  it('refuses a shard whose bytes do not match the digest, or whose key count differs from the signed one', async () => {
    const { refs, bodies } = await encodeKeyShards(keysOf(4), 10);
    const ref = refs[0]!;
    const body = bodies.get(ref.sha256)!;
    const into: Record<string, KeyEntry> = {};
    const edited = body.replace('"key-1"', '"key-9"');
    expect(await decodeKeyShard(edited, ref, into, new Map())).toBe(false);
    expect(await decodeKeyShard(body, { ...ref, keys: 3 }, into, new Map())).toBe(false);
    expect(into).toEqual({});
  });

  it('refuses a shard above the size limit before parsing it, even when its digest matches', async () => {
    const body = JSON.stringify({ policies: [], keys: [], pad: 'x'.repeat(MAX_SHARD_BYTES) });
    expect(await decodeKeyShard(body, { sha256: await shardDigest(body), keys: 0 }, {}, new Map())).toBe(false);
    const small = JSON.stringify({ policies: [], keys: [], pad: 'x' });
    expect(await decodeKeyShard(small, { sha256: await shardDigest(small), keys: 0 }, {}, new Map())).toBe(true);
  });

  it.each([
    ['not JSON', '{"policies":['],
    ['a row with a bad hash', JSON.stringify({ policies: [], keys: [['xyz', 'k', 'o', null, 0, null]] })],
    ['a policy index out of range', JSON.stringify({ policies: [], keys: [[hash(1), 'k', 'o', null, 0, null]] })],
    ['a row of the wrong length', JSON.stringify({ policies: [{ allowed_models: [], allowed_regions: [], allowed_suppliers: [] }], keys: [[hash(1), 'k', 'o', null, 0]] })],
    ['an expiry that is not an integer', JSON.stringify({ policies: [{ allowed_models: [], allowed_regions: [], allowed_suppliers: [] }], keys: [[hash(1), 'k', 'o', null, 0, 'soon']] })],
    ['a policy of the wrong shape', JSON.stringify({ policies: [{ allowed_models: 'all' }], keys: [[hash(1), 'k', 'o', null, 0, null]] })],
  ])('refuses a shard with %s even when its digest matches', async (_name, body) => {
    const into: Record<string, KeyEntry> = {};
    expect(await decodeKeyShard(body, { sha256: await shardDigest(body), keys: 1 }, into, new Map())).toBe(false);
  });
});
