// The control plane's configuration: the only module that reads process.env.
// Every variable is listed in README.md ("Configuration").

import type { JWK } from 'jose';

export interface ControlPlaneConfig {
  host: string;
  port: number;
  /** Absent → embedded PGlite in `pgliteDataDir`. */
  databaseUrl: string | undefined;
  pgliteDataDir: string;
  /** Ed25519 private JWK with `kid`: signs manifests. Never logged. */
  manifestSigningJwk: JWK & { kid: string };
  /** Hard expiry of a manifest: an edge cut off from the control plane serves this long, then 503. */
  manifestTtlSeconds: number;
  bootstrapOwnerEmail: string;
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

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ControlPlaneConfig {
  return {
    host: env.CP_HOST || '127.0.0.1',
    port: integer(env, 'CP_PORT', 7301, 0, 65535),
    databaseUrl: env.DATABASE_URL || undefined,
    pgliteDataDir: env.PGLITE_DATA_DIR || '.taas/pgdata',
    manifestSigningJwk: signingJwk(env.MANIFEST_SIGNING_KEY),
    manifestTtlSeconds: integer(env, 'MANIFEST_TTL_SECONDS', 3600, 60, 7 * 24 * 3600),
    bootstrapOwnerEmail: env.BOOTSTRAP_OWNER_EMAIL || 'owner@localhost',
  };
}
