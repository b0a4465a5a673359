// Idempotency-Key on management POSTs: the first request with a key runs; a retry with the same
// key and body gets the recorded successful answer (`idempotent-replayed: true`) instead of running again.
// Recorded answers never hold a secret: a raw API key or token in a response is stored as null,
// so a replayed creation answers the object without its once-only secret (rotate to get a new one).

import type { MiddlewareHandler } from 'hono';
import { hashToken } from '../shared/api-key.ts';
import { ApiError } from '../shared/errors.ts';
import type { Database } from './db.ts';
import type { AppEnv } from './request-context.ts';
import { claimIdempotencyKey, findIdempotencyKey, purgeExpiredIdempotencyKeys, recordIdempotentAnswer, releaseIdempotencyKey } from './sql/idempotency.ts';

const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;
const SECRET_FIELDS = ['key', 'token'];

function withoutSecrets(body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
  return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, SECRET_FIELDS.includes(k) ? null : v]));
}

/** Expired keys are purged by the requests that use the feature, at most once a minute per process. */
const PURGE_EVERY_MS = 60_000;

export function idempotency(db: Database): MiddlewareHandler<AppEnv> {
  let lastPurgeMs = 0;
  return async (c, next) => {
    const key = c.req.header('idempotency-key');
    if (c.req.method !== 'POST' || key === undefined) return next();
    if (!KEY_SHAPE.test(key)) {
      throw new ApiError('validation_failed', 'Idempotency-Key must be 1 to 255 printable ASCII characters.', { param: 'Idempotency-Key' });
    }
    if (Date.now() - lastPurgeMs >= PURGE_EVERY_MS) {
      lastPurgeMs = Date.now();
      await purgeExpiredIdempotencyKeys(db);
    }
    const tokenId = c.get('principal').tokenId;
    const requestHash = await hashToken(`${c.req.method} ${c.req.path}\n${await c.req.text()}`);

    if (!(await claimIdempotencyKey(db, tokenId, key, requestHash))) {
      const seen = await findIdempotencyKey(db, tokenId, key);
      if (seen && seen.request_hash !== requestHash) {
        throw new ApiError('conflict', 'This Idempotency-Key was already used with a different request.', { param: 'Idempotency-Key' });
      }
      if (!seen || seen.status === null) throw new ApiError('conflict', 'A request with this Idempotency-Key is still in progress.', { param: 'Idempotency-Key' });
      c.header('idempotent-replayed', 'true');
      return c.json(seen.response as object, seen.status as 200);
    }

    try {
      await next();
    } catch (err) {
      await releaseIdempotencyKey(db, tokenId, key);
      throw err;
    }
    // Only a success is recorded (as Stripe does for validation failures): after a refusal the
    // client may correct the request and retry with the same key.
    if (c.res.status >= 300) {
      await releaseIdempotencyKey(db, tokenId, key);
      return;
    }
    const body = c.res.headers.get('content-type')?.includes('application/json') ? await c.res.clone().json() : null;
    await recordIdempotentAnswer(db, tokenId, key, { status: c.res.status, response: withoutSecrets(body) });
  };
}
