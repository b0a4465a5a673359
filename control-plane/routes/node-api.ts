// The node API (/node/v1): what edge nodes call, authenticated by short-lived tokens that each
// node signs with its own registered Ed25519 key.

import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { importJWK, type CryptoKey } from 'jose';
import { ApiError } from '../../shared/errors.ts';
import { verifyNodeToken } from '../../shared/node-token.ts';
import { UsageBatch } from '../../shared/usage.ts';
import type { ApiSpec } from '../api-spec.ts';
import type { Database } from '../db.ts';
import type { Logger } from '../log.ts';
import type { ManifestPublisher } from '../manifest/publisher.ts';
import type { AppEnv } from '../request-context.ts';
import { findEdgeNode } from '../sql/edge-nodes.ts';
import { ingestUsage } from '../usage-ingest.ts';
import { parseJsonBody } from '../validation.ts';

const MAX_USAGE_BODY_BYTES = 4 * 1024 * 1024;
/** Long-poll cap: below every proxy's idle timeout we expect in front of the control plane. */
const MAX_WAIT_SECONDS = 25;

const positiveInt = (value: string | undefined) => (value !== undefined && /^\d{1,15}$/.test(value) ? Number(value) : null);

function parseHeld(since: string | undefined, issuedAt: string | undefined): { version: number; issuedAt: number } | null {
  const version = positiveInt(since);
  const issued = positiveInt(issuedAt);
  return version === null || version < 1 || issued === null ? null : { version, issuedAt: issued };
}

function parseWait(wait: string | undefined): number {
  return Math.min(positiveInt(wait) ?? 0, MAX_WAIT_SECONDS) * 1000;
}

/**
 * `?since=<version>&issued_at=<s>[&wait=<s>]`: a signed delta from the edge's version (or a
 * snapshot when none can be answered). With `wait`, held open until the version moves past the
 * edge's or the wait ends (304): revocations reach a connected edge within the watch interval.
 */
async function answerUpdate(c: Context<AppEnv>, manifest: ManifestPublisher, held: { version: number; issuedAt: number }, waitMs: number) {
  c.header('Cache-Control', 'no-store');
  const deadline = Date.now() + waitMs;
  for (;;) {
    const update = await manifest.updateFor(held);
    if (update.kind !== 'unchanged') {
      const [jws, etag] = update.kind === 'delta' ? [update.jws, `"${update.version}.${update.issuedAt}"`] : [update.signed.jws, update.signed.etag];
      c.header('ETag', etag);
      c.header('Content-Type', 'application/jose');
      return c.body(jws);
    }
    const left = deadline - Date.now();
    if (left <= 0 || c.req.raw.signal.aborted) return c.body(null, 304);
    await manifest.waitBeyond(held.version, left);
  }
}

export const nodeApiSpecs: ApiSpec[] = [
  { method: 'get', path: '/node/v1/manifest', summary: 'The signed manifest (compact JWS); 304 with If-None-Match when unchanged. With ?since=<version>&issued_at=<s>[&wait=<s>]: a signed delta (typ taas-manifest-delta+jws) or a snapshot, long-polled up to 25 s', tag: 'node API', access: 'node', success: { status: 200, description: 'application/jose' } },
  { method: 'get', path: '/node/v1/manifest/shards/:sha256', summary: 'One key shard of the current (or previous) snapshot, by the SHA-256 the signed snapshot names (key_shards); 404 once no snapshot names it', tag: 'node API', access: 'node', success: { status: 200, description: 'application/json' } },
  { method: 'post', path: '/node/v1/usage', summary: 'Ingest a batch of usage events, idempotent by event id', tag: 'node API', access: 'node', body: UsageBatch, success: { status: 200, description: 'Counts of accepted, duplicate and rejected events' } },
];

export function nodeAuth(db: Database, now: () => Date): MiddlewareHandler<AppEnv> {
  // The key is read on every call (one indexed row), so disabling a node takes effect at once.
  async function lookupKey(nodeId: string): Promise<CryptoKey | null> {
    const node = await findEdgeNode(db, nodeId);
    if (!node || node.status !== 'active') return null;
    return (await importJWK(node.public_key_jwk, 'EdDSA')) as CryptoKey;
  }
  return async (c, next) => {
    const token = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    const result = token ? await verifyNodeToken(token, lookupKey, { nowSeconds: Math.floor(now().getTime() / 1000) }) : { ok: false as const };
    if (!result.ok) throw new ApiError('unauthorized', 'Missing or invalid node token.');
    c.set('nodeId', result.nodeId);
    await next();
  };
}

export function nodeApiRoutes(deps: { db: Database; manifest: ManifestPublisher; now: () => Date; log: Logger }) {
  return new Hono<AppEnv>()
    .use(nodeAuth(deps.db, deps.now))
    .get('/manifest', async (c) => {
      const held = parseHeld(c.req.query('since'), c.req.query('issued_at'));
      if (held) return answerUpdate(c, deps.manifest, held, parseWait(c.req.query('wait')));
      const signed = await deps.manifest.current();
      c.header('ETag', signed.etag);
      c.header('Cache-Control', 'no-store');
      if (c.req.header('if-none-match') === signed.etag) return c.body(null, 304);
      c.header('Content-Type', 'application/jose');
      return c.body(signed.jws);
    })
    .get('/manifest/shards/:sha256', async (c) => {
      const shard = await deps.manifest.shard(c.req.param('sha256'));
      if (shard === null) throw new ApiError('not_found', 'No current manifest snapshot has a key shard with this digest; fetch the manifest again.');
      // Content-addressed: the same digest always names the same bytes.
      c.header('Cache-Control', 'private, max-age=86400, immutable');
      c.header('Content-Type', 'application/json');
      return c.body(shard);
    })
    .post(
      '/usage',
      bodyLimit({
        maxSize: MAX_USAGE_BODY_BYTES,
        onError: () => {
          throw new ApiError('payload_too_large', `A usage batch may not exceed ${MAX_USAGE_BODY_BYTES} bytes.`);
        },
      }),
      async (c) => {
        const batch = await parseJsonBody(c, UsageBatch);
        return c.json(await ingestUsage(deps.db, c.get('nodeId'), batch.events, { log: deps.log }));
      },
    );
}
