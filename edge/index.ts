// The Worker entry: the only place that touches bindings, the real fetch and the real clock.
// The runtime (keys imported, stores created) is built on the first request of an isolate and
// reused by later ones; nothing happens at import.

import { importJWK, type CryptoKey } from 'jose';
import { errorBody } from '../shared/errors.ts';
import { createEdgeApp } from './app.ts';
import { syncAllowances } from './allowance-fetch.ts';
import { createAllowances } from './allowances.ts';
import { createCircuitBreaker } from './circuit-breaker.ts';
import { EdgeConfigError, parseEdgeConfig } from './config.ts';
import { createCredentialStore } from './credential-store.ts';
import { fetchSealedCredentials } from './credential-fetch.ts';
import { fetchManifest, fetchManifestShard } from './manifest-fetch.ts';
import { vaultPersistence } from './manifest-persistence.ts';
import { createManifestStore } from './manifest-store.ts';
import { createNodeIdentity } from './node-identity.ts';
import { createStickySessions } from './stickiness.ts';
import { diskJournal } from './usage-journal.ts';
import { durableUsageOutbox, type OutboxNamespace } from './usage-outbox.ts';
import { maxEventsOf, outboxServiceNamespace } from './usage-outbox-do.ts';

type App = ReturnType<typeof createEdgeApp>;

const log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, string | number>) =>
  console.log(JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields }));

/** Below MANIFEST_MAX_STALE_SECONDS (30 s), so a held long-poll never counts as stale. */
const MANIFEST_WAIT_SECONDS = 20;

/**
 * The durable usage outbox is not optional: without it, events would die with the process. It is
 * either the UsageOutboxObject in this process (USAGE_OUTBOX) or the node's outbox process
 * reached over a service binding (USAGE_OUTBOX_SERVICE, plain workerd: scripts/workerd-config.ts).
 */
function usageOutboxOf(env: Record<string, unknown>): { namespace: OutboxNamespace; minAppendIntervalMs?: number } {
  // Both processes of a node get the same bindings: a bad USAGE_OUTBOX_MAX_EVENTS fails here, as
  // a 503 for every request, not at the first append (where every answer would wait for it).
  maxEventsOf(env);
  if (env.USAGE_OUTBOX_SERVICE) {
    // Its commits do not hold this thread: append as soon as the previous append is answered.
    return { namespace: outboxServiceNamespace(env.USAGE_OUTBOX_SERVICE as Fetcher), minAppendIntervalMs: 0 };
  }
  if (!env.USAGE_OUTBOX) throw new EdgeConfigError('binding USAGE_OUTBOX (the UsageOutboxObject Durable Object) or USAGE_OUTBOX_SERVICE is required');
  return { namespace: env.USAGE_OUTBOX as DurableObjectNamespace };
}

async function buildApp(env: Record<string, unknown>): Promise<App> {
  const config = parseEdgeConfig(env);
  const nowMs = () => Date.now();
  const identity = createNodeIdentity(config.nodeId, (await importJWK(config.nodePrivateJwk, 'EdDSA')) as CryptoKey, nowMs);
  const publicKeys: Record<string, CryptoKey> = {};
  for (const [kid, jwk] of Object.entries(config.manifestPublicKeys)) publicKeys[kid] = (await importJWK(jwk, 'EdDSA')) as CryptoKey;
  const credentials = config.nodeEncryptionJwk
    ? createCredentialStore({
        nodeId: config.nodeId,
        privateKey: (await importJWK(config.nodeEncryptionJwk, 'ECDH-ES')) as CryptoKey,
        fetchCredentials: (etag) => fetchSealedCredentials(config.controlPlaneUrl, identity, etag),
        nowMs,
        refreshMs: config.credentialRefreshMs,
        log: (msg, fields) => log('warn', msg, fields),
      })
    : undefined;
  return createEdgeApp({
    ...(credentials ? { credentials } : {}),
    breaker: createCircuitBreaker({ nowMs }),
    sessions: createStickySessions({ nowMs }),
    manifest: createManifestStore({
      fetchManifest: (etag, request) => fetchManifest(config.controlPlaneUrl, identity, etag, request),
      fetchShard: (sha256) => fetchManifestShard(config.controlPlaneUrl, identity, sha256),
      // Long-poll: the control plane answers as soon as the version moves (manifest-store.ts).
      watch: { waitSeconds: MANIFEST_WAIT_SECONDS, retryMs: 1000 },
      ...(env.MANIFEST_VAULT ? { persistence: vaultPersistence(env.MANIFEST_VAULT as DurableObjectNamespace, config.nodeId) } : {}),
      publicKeys,
      nowMs,
      refreshMs: config.manifestRefreshMs,
      maxStaleMs: config.manifestMaxStaleMs,
      log: (msg, fields) => log('warn', msg, fields),
    }),
    outbox: durableUsageOutbox({
      ...usageOutboxOf(env),
      // Bound to the node's state directory (scripts/workerd-config.ts, scripts/edge-miniflare.ts).
      ...(env.USAGE_JOURNAL && config.usageJournal ? { journal: diskJournal(env.USAGE_JOURNAL as Fetcher) } : {}),
      nowMs,
      log,
    }),
    allowances: createAllowances({ sync: (body) => syncAllowances(config.controlPlaneUrl, identity, body), nowMs, log }),
    fetchUpstream: (input, init) => fetch(input, init),
    supplierKeys: config.supplierKeys,
    region: config.region,
    nowMs,
    maxRequestBytes: config.maxRequestBytes,
    upstreamFirstByteTimeoutMs: config.upstreamFirstByteTimeoutMs,
    durableAnswers: config.durableAnswers,
    log,
  });
}

export { ManifestVault } from './manifest-vault.ts';
export { UsageOutboxObject, usageOutbox } from './usage-outbox-do.ts';

let app: Promise<App> | undefined;

export default {
  async fetch(request: Request, env: Record<string, unknown>, ctx: ExecutionContext): Promise<Response> {
    app ??= buildApp(env).catch((err: unknown) => {
      app = undefined;
      throw err;
    });
    let ready: App;
    try {
      ready = await app;
    } catch (err) {
      log('error', 'edge configuration is unusable', { error: err instanceof Error ? err.message : String(err) });
      return Response.json(errorBody('manifest_unavailable', 'This gateway node is misconfigured.'), { status: 503 });
    }
    return ready.fetch(request, env, ctx);
  },
};
