// Builders for what the control plane would publish: API keys (minted and hashed as the control
// plane does), orgs, models with routes, and signed manifests. Every id is unique per call, so
// tests never collide on shared names.

import { generateKeyPair, type CryptoKey } from 'jose';
import { generateToken, hashToken } from '../../../shared/api-key.ts';
import type { ManifestDeltaPayload } from '../../../shared/manifest-delta.ts';
import {
  MANIFEST_FORMAT,
  signManifest,
  type KeyEntry,
  type ManifestPayload,
  type ModelEntry,
  type Pricing,
  type RouteEntry,
  type SigningKey,
} from '../../../shared/manifest.ts';

export const uniqueId = (prefix: string): string => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

export interface Signer extends SigningKey {
  publicKey: CryptoKey;
  /** The pinned trust anchor an edge is configured with. */
  publicKeys: Record<string, CryptoKey>;
}

export async function createSigner(): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const kid = uniqueId('kid');
  return { kid, privateKey, publicKey, publicKeys: { [kid]: publicKey } };
}

export interface MintedKey {
  /** The raw key a client sends. */
  token: string;
  hash: string;
  entry: KeyEntry;
}

export async function mintKey(overrides: Partial<KeyEntry> = {}): Promise<MintedKey> {
  const token = generateToken('api_key');
  return {
    token,
    hash: await hashToken(token),
    entry: {
      id: crypto.randomUUID(),
      org_id: crypto.randomUUID(),
      owner_id: crypto.randomUUID(),
      allowed_models: [],
      allowed_regions: [],
      allowed_suppliers: [],
      expires_at: null,
      budget: null,
      owner_budget: null,
      rate_limit_rpm: null,
      rate_limit_tpm: null,
      ...overrides,
    },
  };
}

export function buildRoute(overrides: Partial<RouteEntry> = {}): RouteEntry {
  const supplierId = overrides.supplier_id ?? uniqueId('supplier');
  return {
    supplier_id: supplierId,
    format: 'openai',
    base_url: `https://${supplierId}.supplier.test/v1`,
    region: 'EU',
    upstream_model: uniqueId('upstream-model'),
    priority: 1,
    credential_id: null,
    ...overrides,
  };
}

/** Token prices in µUSD per 1M tokens, nothing else priced. */
export function buildPricing(inputPerMtok: number, outputPerMtok: number): Pricing {
  return { input_per_mtok: inputPerMtok, output_per_mtok: outputPerMtok, cached_input_per_mtok: null, cache_write_per_mtok: null, per_second: null, tiers: [] };
}

export function buildModel(overrides: Partial<ModelEntry> = {}): ModelEntry {
  return {
    id: uniqueId('model'),
    type: 'chat',
    owned_by: 'test-lab',
    context_window: 128_000,
    max_output_tokens: 16_384,
    capabilities: ['chat', 'streaming'],
    pricing: buildPricing(150_000, 600_000),
    routes: [buildRoute()],
    ...overrides,
  };
}

export interface ManifestSpec {
  version: number;
  nowSeconds: number;
  /** Seconds from now until the manifest's hard expiry. */
  ttlSeconds?: number;
  keys?: readonly MintedKey[];
  models?: readonly ModelEntry[];
  /** Orgs of the keys are active unless listed here. */
  suspendedOrgs?: readonly string[];
}

export function buildManifest(spec: ManifestSpec): ManifestPayload {
  const keys = spec.keys ?? [];
  const orgs: ManifestPayload['orgs'] = {};
  for (const k of keys) orgs[k.entry.org_id] = { status: 'active' };
  for (const org of spec.suspendedOrgs ?? []) orgs[org] = { status: 'suspended' };
  return {
    format: MANIFEST_FORMAT,
    version: spec.version,
    issued_at: spec.nowSeconds,
    expires_at: spec.nowSeconds + (spec.ttlSeconds ?? 3600),
    keys: Object.fromEntries(keys.map((k) => [k.hash, k.entry])),
    key_shards: [],
    orgs,
    models: Object.fromEntries((spec.models ?? []).map((m) => [m.id, m])),
  };
}

export function sign(payload: ManifestPayload, signer: SigningKey): Promise<string> {
  return signManifest(payload, signer);
}

/** The delta a control plane would answer an edge holding `from` once it is at `to`. */
export function deltaBetween(from: ManifestPayload, to: ManifestPayload): ManifestDeltaPayload {
  return {
    format: to.format,
    from: from.version,
    to: to.version,
    issued_at: to.issued_at,
    expires_at: to.expires_at,
    put: Object.fromEntries(Object.entries(to.keys).filter(([hash, entry]) => JSON.stringify(from.keys[hash]) !== JSON.stringify(entry))),
    remove: Object.keys(from.keys).filter((hash) => !Object.hasOwn(to.keys, hash)),
    orgs: to.orgs,
    models: to.models,
  };
}
