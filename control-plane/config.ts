// The control plane's configuration: the only module that reads process.env.
// Every variable is listed in README.md ("Configuration").

import type { JWK } from 'jose';
import type { StripeSettings } from './billing/stripe-gateway.ts';
import { DEFAULT_SHARD_KEYS } from '../shared/manifest-shards.ts';

export interface ControlPlaneConfig {
  host: string;
  port: number;
  /** Absent → embedded PGlite in `pgliteDataDir`. */
  databaseUrl: string | undefined;
  /**
   * The owner role's URL for migrations, when DATABASE_URL is the least-privileged app role
   * (a member of taas_app, which may not run DDL). Absent → migrations run on DATABASE_URL.
   */
  migrationDatabaseUrl: string | undefined;
  pgliteDataDir: string;
  /** Ed25519 private JWK with `kid`: signs manifests. Never logged. */
  manifestSigningJwk: JWK & { kid: string };
  /** Hard expiry of a manifest: an edge cut off from the control plane serves this long, then 503. */
  manifestTtlSeconds: number;
  /** A snapshot with more keys than this carries them in shards of this many (shared/manifest-shards.ts). */
  manifestShardKeys: number;
  bootstrapOwnerEmail: string;
  /** Key-encryption keys for provider credentials; null when CREDENTIAL_KEKS is unset (credential routes then refuse). Never logged. */
  credentialKeys: CredentialKeyConfig | null;
  /** The OAuth refresher renews an access token this long before it expires. */
  oauthRefreshLeadSeconds: number;
  /** How often the OAuth refresher looks for tokens due for renewal. */
  oauthRefreshIntervalSeconds: number;
  /** Stripe prepaid top-ups; null when STRIPE_SECRET_KEY is unset (top-ups and the webhook answer 503 not_configured). Never logged. */
  stripe: StripeSettings | null;
}

export interface CredentialKeyConfig {
  /** KEK id → 32 raw key bytes. Old ids stay configured until `npm run rotate-kek` has re-wrapped their data keys. */
  keks: Record<string, Uint8Array>;
  /** The id that wraps new data keys. */
  activeKekId: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}`);
  }
  return value;
}

function signingJwk(raw: string | undefined): JWK & { kid: string } {
  if (!raw) throw new ConfigError('MANIFEST_SIGNING_KEY is required (an Ed25519 private JWK with a kid; npm start generates one)');
  let jwk: unknown;
  try {
    jwk = JSON.parse(raw);
  } catch {
    throw new ConfigError('MANIFEST_SIGNING_KEY is not valid JSON');
  }
  const candidate = jwk as Partial<JWK>;
  if (candidate?.kty !== 'OKP' || candidate.crv !== 'Ed25519' || typeof candidate.d !== 'string' || typeof candidate.kid !== 'string') {
    throw new ConfigError('MANIFEST_SIGNING_KEY must be an Ed25519 private JWK (kty OKP, crv Ed25519, d, kid)');
  }
  return candidate as JWK & { kid: string };
}

const KEK_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64_32_BYTES = /^[A-Za-z0-9+/]{43}=$/;

/** CREDENTIAL_KEKS (JSON {id: base64 of 32 bytes}) and CREDENTIAL_KEK_ACTIVE; also read by `npm run rotate-kek`. */
export function loadCredentialKeys(env: NodeJS.ProcessEnv = process.env): CredentialKeyConfig | null {
  const raw = env.CREDENTIAL_KEKS;
  if (!raw) {
    if (env.CREDENTIAL_KEK_ACTIVE) throw new ConfigError('CREDENTIAL_KEK_ACTIVE is set but CREDENTIAL_KEKS is not');
    return null;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError('CREDENTIAL_KEKS is not valid JSON');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || Object.keys(parsed).length === 0) {
    throw new ConfigError('CREDENTIAL_KEKS must be a JSON object {"<kek id>": "<base64 of 32 bytes>"} with at least one key');
  }
  const entries: [string, Uint8Array][] = [];
  for (const [id, value] of Object.entries(parsed)) {
    // The message names the id only, never the value.
    if (!KEK_ID.test(id)) throw new ConfigError(`CREDENTIAL_KEKS: key id '${id.slice(0, 64)}' must be 1-64 of A-Z a-z 0-9 . _ -`);
    if (typeof value !== 'string' || !BASE64_32_BYTES.test(value)) throw new ConfigError(`CREDENTIAL_KEKS: key '${id}' must be base64 of exactly 32 bytes`);
    entries.push([id, new Uint8Array(Buffer.from(value, 'base64'))]);
  }
  // fromEntries defines own properties, so an id like `__proto__` cannot reach the prototype.
  const keks: Record<string, Uint8Array> = Object.fromEntries(entries);
  const ids = Object.keys(keks);
  const activeKekId = env.CREDENTIAL_KEK_ACTIVE || (ids.length === 1 ? ids[0]! : '');
  if (!activeKekId) throw new ConfigError('CREDENTIAL_KEK_ACTIVE is required when CREDENTIAL_KEKS holds more than one key');
  if (!Object.hasOwn(keks, activeKekId)) throw new ConfigError(`CREDENTIAL_KEK_ACTIVE '${activeKekId.slice(0, 64)}' is not a key of CREDENTIAL_KEKS`);
  return { keks, activeKekId };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ControlPlaneConfig {
  const oauthRefreshIntervalSeconds = integer(env, 'OAUTH_REFRESH_INTERVAL_SECONDS', 60, 1, 3600);
  const oauthRefreshLeadSeconds = integer(env, 'OAUTH_REFRESH_LEAD_SECONDS', 300, 10, 24 * 3600);
  // A token must come due at least one full round before it expires, or a round can miss it.
  if (oauthRefreshLeadSeconds <= oauthRefreshIntervalSeconds) {
    throw new ConfigError('OAUTH_REFRESH_LEAD_SECONDS must be greater than OAUTH_REFRESH_INTERVAL_SECONDS');
  }
  return {
    host: env.CP_HOST || '127.0.0.1',
    port: integer(env, 'CP_PORT', 7301, 0, 65535),
    databaseUrl: env.DATABASE_URL || undefined,
    migrationDatabaseUrl: env.MIGRATION_DATABASE_URL || undefined,
    pgliteDataDir: env.PGLITE_DATA_DIR || '.taas/pgdata',
    manifestSigningJwk: signingJwk(env.MANIFEST_SIGNING_KEY),
    manifestTtlSeconds: integer(env, 'MANIFEST_TTL_SECONDS', 3600, 60, 7 * 24 * 3600),
    manifestShardKeys: integer(env, 'MANIFEST_SHARD_KEYS', DEFAULT_SHARD_KEYS, 1, 50_000),
    bootstrapOwnerEmail: env.BOOTSTRAP_OWNER_EMAIL || 'owner@localhost',
    credentialKeys: loadCredentialKeys(env),
    oauthRefreshLeadSeconds,
    oauthRefreshIntervalSeconds,
    stripe: loadStripeSettings(env),
  };
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** STRIPE_*: both secrets or neither (a key without a webhook secret could take money it never credits). */
export function loadStripeSettings(env: NodeJS.ProcessEnv = process.env): StripeSettings | null {
  const secretKey = env.STRIPE_SECRET_KEY || '';
  const webhookSecret = env.STRIPE_WEBHOOK_SECRET || '';
  if (!secretKey && !webhookSecret) return null;
  if (!secretKey || !webhookSecret) throw new ConfigError('STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET must be set together');
  const apiBase = env.STRIPE_API_BASE || 'https://api.stripe.com';
  let url: URL;
  try {
    url = new URL(apiBase);
  } catch {
    throw new ConfigError('STRIPE_API_BASE is not a URL');
  }
  // The secret key travels to this address: https only, except a loopback fake in tests.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
    throw new ConfigError('STRIPE_API_BASE must be https:// (http:// only on loopback)');
  }
  return {
    secretKey,
    webhookSecret,
    apiBase,
    successUrl: env.STRIPE_SUCCESS_URL || 'http://localhost:7301/topup/success?session_id={CHECKOUT_SESSION_ID}',
    cancelUrl: env.STRIPE_CANCEL_URL || 'http://localhost:7301/topup/cancelled',
  };
}
