// Starts a control plane: database (migrated), first-owner bootstrap, manifest publisher, HTTP
// server. Used by main.ts, by `npm start` and by end-to-end tests; it reads no environment.

import { serve, type ServerType } from '@hono/node-server';
import { importJWK, type CryptoKey } from 'jose';
import { fileURLToPath } from 'node:url';
import { createControlPlaneApp } from './app.ts';
import { createStripeGateway } from './billing/stripe-gateway.ts';
import { bootstrapOwner } from './bootstrap.ts';
import type { ControlPlaneConfig } from './config.ts';
import { importKeyring } from './credentials/keyring.ts';
import { createOAuthRefresher, type OAuthRefresher } from './credentials/oauth-refresher.ts';
import { openDatabase, type Database } from './db.ts';
import type { Logger } from './log.ts';
import { createManifestPublisher } from './manifest/publisher.ts';
import { migrate } from './migrate.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));

export interface RunningControlPlane {
  url: string;
  db: Database;
  /** The first owner's management token, only on the start that created it. */
  bootstrapToken: string | null;
  close(): Promise<void>;
}

/** Migrates through the owner's connection when one is configured, else through `db` itself. */
async function migrateAsOwner(db: Database, ownerUrl: string | undefined): Promise<{ applied: string[] }> {
  if (!ownerUrl) return migrate(db, { dir: MIGRATIONS_DIR });
  const owner = await openDatabase({ url: ownerUrl, maxConnections: 1 });
  try {
    return await migrate(owner, { dir: MIGRATIONS_DIR });
  } finally {
    await owner.close();
  }
}

export async function startControlPlane(config: ControlPlaneConfig, deps: { log: Logger; now?: () => Date }): Promise<RunningControlPlane> {
  const now = deps.now ?? (() => new Date());
  const db = await openDatabase(config.databaseUrl ? { url: config.databaseUrl } : { pgliteDataDir: config.pgliteDataDir });
  try {
    const { applied } = await migrateAsOwner(db, config.migrationDatabaseUrl);
    if (applied.length > 0) deps.log('info', 'migrations applied', { applied: applied.join(',') });
    const bootstrap = await bootstrapOwner(db, { email: config.bootstrapOwnerEmail, now: now() });
    const signingKey = { kid: config.manifestSigningJwk.kid, privateKey: (await importJWK(config.manifestSigningJwk, 'EdDSA')) as CryptoKey };
    const manifest = createManifestPublisher({
      db,
      signingKey,
      ttlSeconds: config.manifestTtlSeconds,
      shardKeys: config.manifestShardKeys,
      nowSeconds: () => Math.floor(now().getTime() / 1000),
    });
    const credentialKeys = config.credentialKeys ? await importKeyring(config.credentialKeys) : null;
    if (!credentialKeys) deps.log('warn', 'CREDENTIAL_KEKS is not set: provider credentials cannot be stored and the OAuth refresher is off');
    const app = createControlPlaneApp({
      db,
      manifest,
      now,
      log: deps.log,
      credentialKeys,
      stripe: config.stripe ? createStripeGateway(config.stripe) : null,
      clientAddress: (env) => (env as { incoming?: { socket?: { remoteAddress?: string } } })?.incoming?.socket?.remoteAddress ?? null,
    });
    const server: ServerType = await new Promise((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () => resolve(s));
    });
    const refresher: OAuthRefresher | null = credentialKeys
      ? createOAuthRefresher({
          db,
          keyring: credentialKeys,
          log: deps.log,
          now,
          leadSeconds: config.oauthRefreshLeadSeconds,
          intervalSeconds: config.oauthRefreshIntervalSeconds,
        })
      : null;
    refresher?.start();
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    return {
      url: `http://${config.host}:${port}`,
      db,
      bootstrapToken: bootstrap?.token ?? null,
      async close() {
        await refresher?.stop();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await db.close();
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}
