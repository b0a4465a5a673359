// The edge's configuration: Worker bindings parsed once into typed values. A node with broken
// configuration answers 503 on every request rather than half-working.

import type { JWK } from 'jose';
import { Region } from '../shared/manifest.ts';

export interface EdgeConfig {
  nodeId: string;
  /** Ed25519 private JWK of this node: signs node-API tokens. */
  nodePrivateJwk: JWK;
  /** X25519 private JWK of this node: opens the credentials sealed to it. Null: SUPPLIER_KEYS only. */
  nodeEncryptionJwk: JWK | null;
  /** Background credential refresh when the last check is older than this. */
  credentialRefreshMs: number;
  controlPlaneUrl: string;
  /** Pinned manifest verification keys by kid: the trust anchor, never fetched. */
  manifestPublicKeys: Record<string, JWK>;
  region: Region;
  /** Background manifest refresh when the last check is older than this. */
  manifestRefreshMs: number;
  /** A request blocks on a refresh (bounded) when no refresh was even attempted for this long. */
  manifestMaxStaleMs: number;
  /** Supplier id → API key. Issue 4 replaces this with credentials sealed to the node's key. */
  supplierKeys: Record<string, string>;
  maxRequestBytes: number;
  upstreamFirstByteTimeoutMs: number;
  /** The end of each answer waits until its usage event is on disk (README "durable outbox"). */
  durableAnswers: boolean;
  /**
   * What "on disk" means for that wait: a journal file (survives a kill of the process; the
   * default where the USAGE_JOURNAL binding exists) or only the outbox's synced commit ('commit':
   * survives a crash of the machine too).
   */
  usageJournal: boolean;
}

export class EdgeConfigError extends Error {
  override name = 'EdgeConfigError';
}

type Bindings = Record<string, unknown>;

function text(env: Bindings, name: string, fallback?: string): string {
  const value = env[name];
  if (typeof value === 'string' && value !== '') return value;
  if (fallback !== undefined) return fallback;
  throw new EdgeConfigError(`binding ${name} is required`);
}

function json<T>(env: Bindings, name: string, fallback?: string): T {
  try {
    return JSON.parse(text(env, name, fallback)) as T;
  } catch (err) {
    if (err instanceof EdgeConfigError) throw err;
    throw new EdgeConfigError(`binding ${name} is not valid JSON`);
  }
}

function seconds(env: Bindings, name: string, fallback: number): number {
  const value = Number(text(env, name, String(fallback)));
  if (!Number.isFinite(value) || value <= 0) throw new EdgeConfigError(`binding ${name} must be a positive number`);
  return value * 1000;
}

/** A positive whole number of bytes: "4MB" or 0 would otherwise be NaN or no limit at all. */
function byteCount(env: Bindings, name: string, fallback: number): number {
  const value = Number(text(env, name, String(fallback)));
  if (!Number.isSafeInteger(value) || value <= 0) throw new EdgeConfigError(`binding ${name} must be a positive whole number of bytes`);
  return value;
}

function durability(value: string): Pick<EdgeConfig, 'durableAnswers' | 'usageJournal'> {
  if (value === 'true') return { durableAnswers: true, usageJournal: true };
  if (value === 'commit') return { durableAnswers: true, usageJournal: false };
  if (value === 'false') return { durableAnswers: false, usageJournal: false };
  throw new EdgeConfigError('binding USAGE_DURABLE_BEFORE_END must be true, commit or false');
}

export function parseEdgeConfig(env: Bindings): EdgeConfig {
  const region = Region.safeParse(text(env, 'EDGE_REGION', 'EU'));
  if (!region.success) throw new EdgeConfigError('binding EDGE_REGION must be EU, US or APAC');
  const publicKeys = json<Record<string, JWK>>(env, 'MANIFEST_PUBLIC_KEYS');
  if (Object.keys(publicKeys).length === 0) throw new EdgeConfigError('binding MANIFEST_PUBLIC_KEYS holds no key');
  return {
    nodeId: text(env, 'NODE_ID'),
    nodePrivateJwk: json<JWK>(env, 'NODE_PRIVATE_KEY'),
    nodeEncryptionJwk: text(env, 'NODE_ENCRYPTION_KEY', '') === '' ? null : json<JWK>(env, 'NODE_ENCRYPTION_KEY'),
    credentialRefreshMs: seconds(env, 'CREDENTIAL_REFRESH_SECONDS', 10),
    controlPlaneUrl: text(env, 'CONTROL_PLANE_URL').replace(/\/+$/, ''),
    manifestPublicKeys: publicKeys,
    region: region.data,
    manifestRefreshMs: seconds(env, 'MANIFEST_REFRESH_SECONDS', 2),
    manifestMaxStaleMs: seconds(env, 'MANIFEST_MAX_STALE_SECONDS', 30),
    supplierKeys: json<Record<string, string>>(env, 'SUPPLIER_KEYS', '{}'),
    maxRequestBytes: byteCount(env, 'MAX_REQUEST_BYTES', 4 * 1024 * 1024),
    upstreamFirstByteTimeoutMs: seconds(env, 'UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS', 120),
    ...durability(text(env, 'USAGE_DURABLE_BEFORE_END', 'true')),
  };
}
