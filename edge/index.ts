// The Worker entry: the only place that touches bindings, the real fetch and the real clock.
// The runtime (keys imported, stores created) is built on the first request of an isolate and
// reused by later ones; nothing happens at import.

import { importJWK, type CryptoKey } from 'jose';
import { errorBody } from '../shared/errors.ts';
import { DEFAULT_MAX_MANIFEST_BYTES } from '../shared/manifest.ts';
import { UsageBatch, type UsageEvent } from '../shared/usage.ts';
import { createEdgeApp } from './app.ts';
import { createCircuitBreaker } from './circuit-breaker.ts';
import { parseEdgeConfig, type EdgeConfig } from './config.ts';
import { createManifestStore, type ManifestFetchResult } from './manifest-store.ts';
import { createNodeIdentity, type NodeIdentity } from './node-identity.ts';
import { readBounded } from './bounded-body.ts';
import { createStickySessions } from './stickiness.ts';
import { createUsageOutbox } from './usage-outbox.ts';

type App = ReturnType<typeof createEdgeApp>;

const log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, string | number>) =>
  console.log(JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields }));

const CONTROL_PLANE_TIMEOUT_MS = 5000;

async function fetchManifest(config: EdgeConfig, identity: NodeIdentity, etag: string | null): Promise<ManifestFetchResult> {
  const headers: Record<string, string> = { authorization: await identity.authorization() };
  if (etag) headers['if-none-match'] = etag;
  const response = await fetch(`${config.controlPlaneUrl}/node/v1/manifest`, { headers, signal: AbortSignal.timeout(CONTROL_PLANE_TIMEOUT_MS) });
  if (response.status === 304) return { status: 'not_modified' };
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`manifest fetch answered ${response.status}`);
  }
  // Size is checked before anything is parsed: a hostile or broken answer cannot exhaust memory.
  const bytes = await readBounded(response, DEFAULT_MAX_MANIFEST_BYTES);
  if (!bytes) throw new Error(`manifest larger than ${DEFAULT_MAX_MANIFEST_BYTES} bytes refused`);
  return { status: 'ok', jws: new TextDecoder().decode(bytes), etag: response.headers.get('etag') };
}

async function deliverUsage(config: EdgeConfig, identity: NodeIdentity, events: UsageEvent[]): Promise<void> {
  const body: UsageBatch = { events };
  const response = await fetch(`${config.controlPlaneUrl}/node/v1/usage`, {
    method: 'POST',
    headers: { authorization: await identity.authorization(), 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(CONTROL_PLANE_TIMEOUT_MS),
  });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`usage delivery answered ${response.status}`);
}

async function buildApp(env: Record<string, unknown>): Promise<App> {
  const config = parseEdgeConfig(env);
  const nowMs = () => Date.now();
  const identity = createNodeIdentity(config.nodeId, (await importJWK(config.nodePrivateJwk, 'EdDSA')) as CryptoKey, nowMs);
  const publicKeys: Record<string, CryptoKey> = {};
  for (const [kid, jwk] of Object.entries(config.manifestPublicKeys)) publicKeys[kid] = (await importJWK(jwk, 'EdDSA')) as CryptoKey;
  return createEdgeApp({
    breaker: createCircuitBreaker({ nowMs }),
    sessions: createStickySessions({ nowMs }),
    manifest: createManifestStore({
      fetchManifest: (etag) => fetchManifest(config, identity, etag),
      publicKeys,
      nowMs,
      refreshMs: config.manifestRefreshMs,
      maxStaleMs: config.manifestMaxStaleMs,
      log: (msg, fields) => log('warn', msg, fields),
    }),
    outbox: createUsageOutbox({
      deliver: (events) => deliverUsage(config, identity, events),
      batchWindowMs: 200,
      maxQueued: 100_000,
      log: (msg, fields) => log('warn', msg, fields),
    }),
    fetchUpstream: (input, init) => fetch(input, init),
    supplierKeys: config.supplierKeys,
    region: config.region,
    nowMs,
    maxRequestBytes: config.maxRequestBytes,
    upstreamFirstByteTimeoutMs: config.upstreamFirstByteTimeoutMs,
    log,
  });
}

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
