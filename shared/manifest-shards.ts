// Key shards: how a snapshot with many keys travels. The signed snapshot carries the catalog, the
// org states and, for each shard, its SHA-256 and key count; the shards themselves are plain JSON
// fetched by digest, so they need no signature of their own: a shard is trusted because the signed
// snapshot names its digest. Each shard is a few MB whatever the manifest's size, so an edge never
// holds a whole 1M-key document (the single-document JWS was 472 MB, beyond any sane limit).
//
// Rows are compact: the policy fields keys share (models, regions, suppliers, budgets, rate
// limits) are written once per shard and referenced by index, and the decoder shares those
// objects and the org/owner id strings between keys, which is most of the held memory at 1M keys.

import { base64url } from 'jose';
import { z } from 'zod';
import { KeyEntry, type KeyShardRef, type ManifestPayload } from './manifest.ts';

/** Keys per shard: ~2 MB of JSON, parsed in tens of milliseconds on the edge. */
export const DEFAULT_SHARD_KEYS = 10_000;
/** The encoder closes a shard early at about this size (keys with long allow-lists). */
export const SHARD_TARGET_BYTES = 4 * 1024 * 1024;
/** A shard larger than this is refused before it is parsed: 4× the encoder's target. */
export const MAX_SHARD_BYTES = 16 * 1024 * 1024;

const KeyPolicy = KeyEntry.omit({ id: true, org_id: true, owner_id: true, expires_at: true });
type KeyPolicy = z.infer<typeof KeyPolicy>;
/** [key hash, key id, org id, owner id, policy index, expires_at] */
type KeyRow = [string, string, string, string | null, number, number | null];

export async function shardDigest(body: string): Promise<string> {
  return base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(body))));
}

export interface EncodedShards {
  refs: KeyShardRef[];
  /** Body by digest. */
  bodies: Map<string, string>;
}

/**
 * Splits a key map into shards, in the map's order: at most `perShard` keys, and closed early at
 * about `targetBytes` of JSON, so keys with long allow-lists never make a shard the edge refuses.
 */
export async function encodeKeyShards(
  keys: Record<string, KeyEntry>,
  perShard: number = DEFAULT_SHARD_KEYS,
  targetBytes: number = SHARD_TARGET_BYTES,
): Promise<EncodedShards> {
  const refs: KeyShardRef[] = [];
  const bodies = new Map<string, string>();
  let policies: KeyPolicy[] = [];
  let policyIndex = new Map<string, number>();
  let rows: KeyRow[] = [];
  let bytes = 0;
  const close = async () => {
    const body = JSON.stringify({ policies, keys: rows });
    const sha256 = await shardDigest(body);
    refs.push({ sha256, keys: rows.length });
    bodies.set(sha256, body);
    [policies, policyIndex, rows, bytes] = [[], new Map(), [], 0];
  };
  for (const [hash, entry] of Object.entries(keys)) {
    const { id, org_id, owner_id, expires_at, ...policy } = entry;
    const signature = JSON.stringify(policy);
    let index = policyIndex.get(signature);
    if (index === undefined) {
      index = policies.push(policy) - 1;
      policyIndex.set(signature, index);
      bytes += signature.length;
    }
    rows.push([hash, id, org_id, owner_id, index, expires_at]);
    bytes += 64 + id.length + org_id.length + (owner_id?.length ?? 4) + 32;
    if (rows.length >= perShard || bytes >= targetBytes) await close();
  }
  if (rows.length > 0) await close();
  return { refs, bodies };
}

const Shard = z.object({ policies: z.array(KeyPolicy), keys: z.array(z.unknown()) });
const isId = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 200;
const isTime = (value: unknown): value is number | null => value === null || Number.isSafeInteger(value);

/**
 * Checks a fetched shard against the digest and key count its signed snapshot names, then adds
 * its keys to `into`. `strings` interns org and owner ids across shards. False: refuse the
 * snapshot (nothing about a shard that fails its digest is used).
 */
export async function decodeKeyShard(
  body: string,
  ref: KeyShardRef,
  into: ManifestPayload['keys'],
  strings: Map<string, string>,
): Promise<boolean> {
  if (body.length > MAX_SHARD_BYTES || (await shardDigest(body)) !== ref.sha256) return false;
  let parsed;
  try {
    parsed = Shard.safeParse(JSON.parse(body));
  } catch {
    return false;
  }
  if (!parsed.success || parsed.data.keys.length !== ref.keys) return false;
  const { policies } = parsed.data;
  const intern = (value: string) => {
    const held = strings.get(value);
    if (held !== undefined) return held;
    strings.set(value, value);
    return value;
  };
  // Rows are checked by hand: zod on a million tuples costs seconds of edge CPU.
  for (const row of parsed.data.keys) {
    if (!Array.isArray(row) || row.length !== 6) return false;
    const [hash, id, org, owner, index, expires] = row as unknown[];
    if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash) || !isId(id) || !isId(org) || !(owner === null || isId(owner))) return false;
    if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= policies.length || !isTime(expires)) return false;
    into[hash] = { id, org_id: intern(org), owner_id: owner === null ? null : intern(owner), expires_at: expires, ...policies[index as number]! };
  }
  return true;
}
