// `npm run bench:manifest`: the manifest at 100k and 1M keys. Per size: building the payload from
// rows, signing, the JWS size, the edge's verify+parse time and the memory the parsed manifest
// holds, then a delta for 100 changed keys (size, sign, verify+apply). Run in Node with jose,
// the same code the edge runs in workerd (V8 in both). The database query is not included: see
// the README's numbers for that separately.

import { generateKeyPair } from 'jose';
import { randomBytes, randomUUID } from 'node:crypto';
import { applyManifestDelta, signManifestDelta, verifyManifestDelta } from '../shared/manifest-delta.ts';
import { signManifest, verifyManifest, type KeyEntry, type ManifestPayload } from '../shared/manifest.ts';

const SIZES = (process.argv[2] ?? '100000,1000000').split(',').map(Number);
const MB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

function entry(org: string): KeyEntry {
  return { id: randomUUID(), org_id: org, owner_id: randomUUID(), allowed_models: [], allowed_regions: [], allowed_suppliers: [], expires_at: null, budget: null, owner_budget: null, rate_limit_rpm: null, rate_limit_tpm: null };
}

async function measure(size: number): Promise<void> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const signer = { kid: 'bench', privateKey };
  const orgs = Array.from({ length: 1000 }, () => randomUUID());
  const now = Math.floor(Date.now() / 1000);

  let t = process.hrtime.bigint();
  const keys: Record<string, KeyEntry> = {};
  for (let i = 0; i < size; i++) keys[randomBytes(32).toString('hex')] = entry(orgs[i % orgs.length]!);
  const payload: ManifestPayload = { format: 1, version: 1, issued_at: now, expires_at: now + 3600, keys, orgs: Object.fromEntries(orgs.map((o) => [o, { status: 'active' as const }])), models: {} };
  const buildMs = ms(t);
  t = process.hrtime.bigint();
  const jws = await signManifest(payload, signer);
  const signMs = ms(t);

  gc();
  const before = process.memoryUsage();
  t = process.hrtime.bigint();
  const verified = await verifyManifest(jws, { publicKeys: { bench: publicKey }, nowSeconds: now, maxBytes: Number.MAX_SAFE_INTEGER });
  const verifyMs = ms(t);
  if (!verified.ok) throw new Error(verified.reason);
  gc();
  const after = process.memoryUsage();

  const hashes = Object.keys(keys).slice(0, 100);
  const delta = { format: 1 as const, from: 1, to: 2, issued_at: now + 1, expires_at: now + 3601, put: Object.fromEntries(hashes.slice(0, 50).map((h) => [h, { ...keys[h]!, rate_limit_rpm: 60 }])), remove: hashes.slice(50), orgs: payload.orgs, models: {} };
  t = process.hrtime.bigint();
  const deltaJws = await signManifestDelta(delta, signer);
  const deltaSignMs = ms(t);
  t = process.hrtime.bigint();
  const dv = await verifyManifestDelta(deltaJws, { publicKeys: { bench: publicKey }, nowSeconds: now, base: verified.manifest });
  if (!dv.ok) throw new Error(dv.reason);
  const applied = applyManifestDelta(verified.manifest, dv.delta);
  const deltaApplyMs = ms(t);

  process.stdout.write(
    [
      `${size} keys`,
      `  build payload ${buildMs.toFixed(0)} ms · sign ${signMs.toFixed(0)} ms · JWS ${MB(jws.length)} (${(jws.length / size).toFixed(0)} B/key)`,
      `  edge verify+parse ${verifyMs.toFixed(0)} ms · held heap +${MB(after.heapUsed - before.heapUsed)} · RSS ${MB(after.rss)} (+${MB(after.rss - before.rss)})`,
      `  delta of 100 keys (50 changed, 50 removed; 1000 orgs in full): ${(deltaJws.length / 1024).toFixed(1)} KB · sign ${deltaSignMs.toFixed(1)} ms · verify+apply ${deltaApplyMs.toFixed(1)} ms · keys now ${Object.keys(applied.keys).length}`,
      '',
    ].join('\n'),
  );
}

for (const size of SIZES) await measure(size);
