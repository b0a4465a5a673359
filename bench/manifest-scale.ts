// `npm run bench:manifest`: the manifest at 100k and 1M keys. Per size: building the payload from
// rows, encoding the key shards and signing, the bytes on the wire, the edge's load time (verify
// the snapshot, then fetch-check-decode every shard: edge/manifest-chain.ts, the code the edge
// runs) and the memory the loaded manifest holds, then a delta for 100 changed keys (size, sign,
// verify+apply). Run in Node with jose, the same code the edge runs in workerd (V8 in both).
// The database query and the HTTP transfer are not included.
//
// Keys are shaped like a large tenant base: 1,000 orgs, one owner per 10 keys, 16 distinct
// policies (model/region/supplier lists, budgets, rate limits) shared between keys.

import { generateKeyPair } from 'jose';
import { randomBytes, randomUUID } from 'node:crypto';
import { acceptSigned } from '../edge/manifest-chain.ts';
import { applyManifestDelta, signManifestDelta, verifyManifestDelta, type ManifestDeltaPayload } from '../shared/manifest-delta.ts';
import { DEFAULT_SHARD_KEYS, encodeKeyShards } from '../shared/manifest-shards.ts';
import { MANIFEST_FORMAT, signManifest, type KeyEntry, type ManifestPayload } from '../shared/manifest.ts';

const SIZES = (process.argv[2] ?? '100000,1000000').split(',').map(Number);
const MB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

const POLICIES = Array.from({ length: 16 }, (_, i) => ({
  allowed_models: i % 4 === 0 ? [] : [`model-${i}`, `model-${i + 1}`],
  allowed_regions: i % 2 === 0 ? [] : (['EU'] as const).slice(),
  allowed_suppliers: i % 8 === 0 ? ['supplier-a'] : [],
  budget: i % 3 === 0 ? { limit_micros: (i + 1) * 10_000_000, period: 'monthly' as const } : null,
  owner_budget: i % 5 === 0 ? { limit_micros: 50_000_000, period: 'daily' as const } : null,
  rate_limit_rpm: i % 2 === 0 ? 600 : null,
  rate_limit_tpm: i % 4 === 1 ? 100_000 : null,
}));

async function measure(size: number): Promise<void> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const signer = { kid: 'bench', privateKey };
  const orgs = Array.from({ length: 1000 }, () => randomUUID());
  const owners = Array.from({ length: Math.ceil(size / 10) }, () => randomUUID());
  const now = Math.floor(Date.now() / 1000);

  let t = process.hrtime.bigint();
  const keys: Record<string, KeyEntry> = {};
  for (let i = 0; i < size; i++) {
    keys[randomBytes(32).toString('hex')] = { id: randomUUID(), org_id: orgs[i % orgs.length]!, owner_id: owners[i % owners.length]!, expires_at: i % 7 === 0 ? now + 86_400 : null, ...structuredClone(POLICIES[i % POLICIES.length]!) };
  }
  const orgStates = Object.fromEntries(orgs.map((o) => [o, { status: 'active' as const }]));
  const buildMs = ms(t);

  t = process.hrtime.bigint();
  const encoded = await encodeKeyShards(keys, DEFAULT_SHARD_KEYS);
  const payload: ManifestPayload = { format: MANIFEST_FORMAT, version: 1, issued_at: now, expires_at: now + 3600, keys: {}, key_shards: encoded.refs, orgs: orgStates, models: {} };
  const jws = await signManifest(payload, signer);
  const signMs = ms(t);
  const shardBytes = [...encoded.bodies.values()].reduce((sum, body) => sum + body.length, 0);
  const largestShard = Math.max(...[...encoded.bodies.values()].map((body) => body.length));

  gc();
  const before = process.memoryUsage();
  t = process.hrtime.bigint();
  const accepted = await acceptSigned(jws, null, { publicKeys: { bench: publicKey }, nowSeconds: now, maxBytes: 64 * 1024 * 1024 }, { read: async (ref) => encoded.bodies.get(ref.sha256)! });
  const loadMs = ms(t);
  if (!accepted.ok) throw new Error(accepted.reason);
  const loaded = accepted.held.manifest;
  if (Object.keys(loaded.keys).length !== size) throw new Error(`loaded ${Object.keys(loaded.keys).length} keys, expected ${size}`);
  gc();
  const after = process.memoryUsage();

  const hashes = Object.keys(keys).slice(0, 100);
  const delta: ManifestDeltaPayload = { format: MANIFEST_FORMAT, from: 1, to: 2, issued_at: now + 1, expires_at: now + 3601, put: Object.fromEntries(hashes.slice(0, 50).map((h) => [h, { ...keys[h]!, rate_limit_rpm: 60 }])), remove: hashes.slice(50), orgs: orgStates, models: {} };
  t = process.hrtime.bigint();
  const deltaJws = await signManifestDelta(delta, signer);
  const deltaSignMs = ms(t);
  t = process.hrtime.bigint();
  const dv = await verifyManifestDelta(deltaJws, { publicKeys: { bench: publicKey }, nowSeconds: now, base: loaded });
  if (!dv.ok) throw new Error(dv.reason);
  const applied = applyManifestDelta(loaded, dv.delta);
  const deltaApplyMs = ms(t);

  process.stdout.write(
    [
      `${size} keys`,
      `  build payload ${buildMs.toFixed(0)} ms · encode ${encoded.refs.length} shards + sign ${signMs.toFixed(0)} ms`,
      `  wire: snapshot JWS ${(jws.length / 1024).toFixed(1)} KB + shards ${MB(shardBytes)} (${(shardBytes / size).toFixed(0)} B/key, largest shard ${MB(largestShard)})`,
      `  edge load (verify + ${encoded.refs.length} shards digest-checked and decoded) ${loadMs.toFixed(0)} ms · held heap +${MB(after.heapUsed - before.heapUsed)} (${((after.heapUsed - before.heapUsed) / size).toFixed(0)} B/key) · RSS ${MB(after.rss)}`,
      `  delta of 100 keys (50 changed, 50 removed; 1000 orgs in full): ${(deltaJws.length / 1024).toFixed(1)} KB · sign ${deltaSignMs.toFixed(1)} ms · verify+apply ${deltaApplyMs.toFixed(1)} ms · keys now ${Object.keys(applied.keys).length}`,
      '',
    ].join('\n'),
  );
}

for (const size of SIZES) await measure(size);
