// The key manifest: everything an edge needs to admit and route a request, signed by the control
// plane (JWS, EdDSA) so edges can trust it without a database. This file owns its format, signing
// and verification; both services import it (ARCHITECTURE.md, "The edge ↔ control plane contract").

import { CompactSign, compactVerify, decodeProtectedHeader, type CryptoKey } from 'jose';
import { z } from 'zod';

export const MANIFEST_TYP = 'taas-manifest+jws';
/** Pinned: the verifier accepts no other algorithm, so `none` and HMAC-with-the-public-key fail. */
export const MANIFEST_ALG = 'EdDSA';
/** What the control plane writes. 2: snapshots may carry their keys in shards (manifest-shards.ts). */
export const MANIFEST_FORMAT = 2;
/** What an edge accepts: the format it writes and the one before, so edges can be upgraded first. */
export const ManifestFormat = z.union([z.literal(1), z.literal(MANIFEST_FORMAT)]);
/**
 * Checked before any parsing. Snapshots are rare (start, long gaps) and carry many keys in shards,
 * each checked against its own limit; changes travel as deltas (manifest-delta.ts).
 */
export const DEFAULT_MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

export const Region = z.enum(['EU', 'US', 'APAC']);
export type Region = z.infer<typeof Region>;
export const SupplierFormat = z.enum(['openai', 'anthropic']);
export type SupplierFormat = z.infer<typeof SupplierFormat>;

const Budget = z.object({
  limit_micros: z.number().int().nonnegative(),
  period: z.enum(['daily', 'monthly', 'cumulative']),
});
export type Budget = z.infer<typeof Budget>;

// Fields added after format 1 shipped default to null, so an edge accepts manifests from a control
// plane that does not send them yet (README: "change the manifest format, edge first").
export const KeyEntry = z.object({
  id: z.string(),
  org_id: z.string(),
  owner_id: z.string().nullable(),
  allowed_models: z.array(z.string()),
  allowed_regions: z.array(Region),
  allowed_suppliers: z.array(z.string()),
  /** Unix seconds; null = never. A rotated key's previous secret carries its overlap's end here. */
  expires_at: z.number().int().nullable(),
  budget: Budget.nullable().default(null),
  /** The owner's per-user budget in this org; enforced beside the key's own. */
  owner_budget: Budget.nullable().default(null),
  /**
   * The owner's per-user allowlists in this org, enforced beside the key's own: a key is checked
   * against them when written, but the owner's lists can narrow later. Absent when empty
   * ("everything"), which is most keys: no array held per key for them.
   */
  owner_allowed_models: z.array(z.string()).optional(),
  owner_allowed_regions: z.array(Region).optional(),
  owner_allowed_suppliers: z.array(z.string()).optional(),
  rate_limit_rpm: z.number().int().positive().nullable().default(null),
  rate_limit_tpm: z.number().int().positive().nullable().default(null),
});
export type KeyEntry = z.infer<typeof KeyEntry>;

const RouteEntry = z.object({
  supplier_id: z.string(),
  format: SupplierFormat,
  base_url: z.string(),
  region: Region,
  upstream_model: z.string(),
  priority: z.number().int(),
  /** The credential this route is pinned to; null = the supplier's default. */
  credential_id: z.string().nullable().default(null),
});
export type RouteEntry = z.infer<typeof RouteEntry>;

const Micros = z.number().int().nonnegative();

const PriceTier = z.object({
  /** Applies when a request's input is at least this many tokens; the highest matching tier wins. */
  min_input_tokens: z.number().int().nonnegative(),
  input_per_mtok: Micros,
  output_per_mtok: Micros,
  cached_input_per_mtok: Micros.nullable().default(null),
  cache_write_per_mtok: Micros.nullable().default(null),
});

const Pricing = z.object({
  /** Integer µUSD per 1M tokens. */
  input_per_mtok: Micros,
  output_per_mtok: Micros,
  cached_input_per_mtok: Micros.nullable().default(null),
  cache_write_per_mtok: Micros.nullable().default(null),
  /** Audio: integer µUSD per second. */
  per_second: Micros.nullable().default(null),
  tiers: z.array(PriceTier).default([]),
});
export type Pricing = z.infer<typeof Pricing>;

export const ModelEntry = z.object({
  id: z.string(),
  type: z.string(),
  owned_by: z.string(),
  context_window: z.number().int().nullable(),
  max_output_tokens: z.number().int().nullable(),
  capabilities: z.array(z.string()),
  pricing: Pricing.nullable(),
  /** Sorted by priority, best first. */
  routes: z.array(RouteEntry),
});
export type ModelEntry = z.infer<typeof ModelEntry>;

export const OrgEntry = z.object({ status: z.enum(['active', 'suspended']) });

export const KeyShardRef = z.object({
  /** SHA-256 of the shard's UTF-8 bytes, base64url: its address and its integrity check. */
  sha256: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  keys: z.number().int().nonnegative(),
});
export type KeyShardRef = z.infer<typeof KeyShardRef>;

export const ManifestPayload = z.object({
  format: ManifestFormat,
  version: z.number().int().positive(),
  issued_at: z.number().int(),
  expires_at: z.number().int(),
  /** Active keys only, indexed by the SHA-256 hex of the raw key; a revoked key is simply absent. */
  keys: z.record(z.string(), KeyEntry),
  /**
   * More keys, in shards fetched by digest (manifest-shards.ts). A verified manifest's `keys`
   * holds them all only once every shard has been fetched and checked (edge/manifest-chain.ts).
   */
  key_shards: z.array(KeyShardRef).default([]),
  orgs: z.record(z.string(), OrgEntry),
  models: z.record(z.string(), ModelEntry),
});
export type ManifestPayload = z.infer<typeof ManifestPayload>;

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
}

export async function signManifest(payload: ManifestPayload, key: SigningKey): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: MANIFEST_ALG, kid: key.kid, typ: MANIFEST_TYP })
    .sign(key.privateKey);
}

export type ManifestRejection =
  | 'too_large'
  | 'malformed'
  | 'bad_header'
  | 'unknown_kid'
  | 'bad_signature'
  | 'bad_payload'
  | 'expired'
  | 'older_version';

export type ManifestVerification =
  | { ok: true; manifest: ManifestPayload; kid: string }
  | { ok: false; reason: ManifestRejection };

export interface VerifyOptions {
  /** Trusted public keys by `kid`: pinned configuration, never taken from the manifest itself. */
  publicKeys: Readonly<Record<string, CryptoKey>>;
  nowSeconds: number;
  maxBytes?: number;
  /** The manifest currently held: a lower version (or same version issued earlier) is refused. */
  current?: Pick<ManifestPayload, 'version' | 'issued_at'>;
  /** Only for the base of a persisted delta chain: the chain's end is checked for expiry instead. */
  ignoreExpiry?: boolean;
}

export type SignatureCheck = { ok: true; payload: unknown; kid: string } | { ok: false; reason: Exclude<ManifestRejection, 'expired' | 'older_version' | 'bad_payload'> | 'bad_payload' };

/**
 * The checks every signed node-API document shares (manifest, delta): size before parsing, the
 * pinned algorithm and `typ`, a pinned `kid`, the signature, then JSON. `typ` keeps a delta from
 * being accepted as a snapshot and the other way round.
 */
export async function verifySignedJson(
  jws: string,
  options: { typ: string; publicKeys: Readonly<Record<string, CryptoKey>>; maxBytes: number },
): Promise<SignatureCheck> {
  if (jws.length > options.maxBytes) return { ok: false, reason: 'too_large' };
  let header;
  try {
    header = decodeProtectedHeader(jws);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (header.alg !== MANIFEST_ALG || header.typ !== options.typ || typeof header.kid !== 'string') {
    return { ok: false, reason: 'bad_header' };
  }
  const key = Object.hasOwn(options.publicKeys, header.kid) ? options.publicKeys[header.kid] : undefined;
  if (!key) return { ok: false, reason: 'unknown_kid' };
  let bytes: Uint8Array;
  try {
    ({ payload: bytes } = await compactVerify(jws, key, { algorithms: [MANIFEST_ALG] }));
  } catch {
    return { ok: false, reason: 'bad_signature' };
  }
  try {
    return { ok: true, payload: JSON.parse(new TextDecoder().decode(bytes)) as unknown, kid: header.kid };
  } catch {
    return { ok: false, reason: 'bad_payload' };
  }
}

export async function verifyManifest(jws: string, options: VerifyOptions): Promise<ManifestVerification> {
  const checked = await verifySignedJson(jws, { typ: MANIFEST_TYP, publicKeys: options.publicKeys, maxBytes: options.maxBytes ?? DEFAULT_MAX_MANIFEST_BYTES });
  if (!checked.ok) return checked;
  const parsed = ManifestPayload.safeParse(checked.payload);
  if (!parsed.success) return { ok: false, reason: 'bad_payload' };
  const manifest = parsed.data;
  // A snapshot loaded from edge storage may be past its own expiry and still be the base of a
  // delta chain that extends it; the caller then checks the expiry of the chain's result.
  if (!options.ignoreExpiry && manifest.expires_at <= options.nowSeconds) return { ok: false, reason: 'expired' };
  const current = options.current;
  if (
    current &&
    (manifest.version < current.version ||
      (manifest.version === current.version && manifest.issued_at < current.issued_at))
  ) {
    return { ok: false, reason: 'older_version' };
  }
  return { ok: true, manifest, kid: checked.kid };
}
