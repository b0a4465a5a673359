// The edge's HTTP app: middleware order, routes, and the one place errors become responses.
// Everything that does I/O or tells time is passed in; index.ts passes the real ones.

import { Hono } from 'hono';
import { ApiError, ERRORS } from '../shared/errors.ts';
import { newRequestId } from '../shared/ids.ts';
import type { Region } from '../shared/manifest.ts';
import type { Allowances } from './allowances.ts';
import type { CircuitBreaker } from './circuit-breaker.ts';
import { keepCredentialsFresh, type CredentialStore } from './credential-store.ts';
import { errorFormatFor, errorPayload } from './error-shape.ts';
import { browserAccess } from './browser-access.ts';
import { gate } from './gate.ts';
import { recordUsage } from './record-usage.ts';
import type { ManifestStore } from './manifest-store.ts';
import type { EdgeEnv } from './request-context.ts';
import { chatCompletionsRoute } from './routes/chat-completions.ts';
import { countTokensRoute } from './routes/count-tokens.ts';
import { messagesRoute } from './routes/messages.ts';
import { modelsRoute } from './routes/models.ts';
import { audioSpeechRoute } from './routes/audio-speech.ts';
import { audioTranscriptionsRoute } from './routes/audio-transcriptions.ts';
import { embeddingsRoute } from './routes/embeddings.ts';
import { rerankRoute } from './routes/rerank.ts';
import { responsesRoute } from './routes/responses.ts';
import type { StickySessions } from './stickiness.ts';
import type { UsageOutbox } from './usage-outbox.ts';

export interface EdgeDeps {
  manifest: ManifestStore;
  /** Per node: supplier endpoints kept out after repeated faults. */
  breaker: CircuitBreaker;
  /** Per node: the route each session last used. */
  sessions: StickySessions;
  outbox: UsageOutbox;
  /** Admission: wallet, budgets and rate limits from leases the control plane grants. */
  allowances: Allowances;
  fetchUpstream: typeof fetch;
  /** Supplier id → API key: the local fallback when no sealed credential is held. */
  supplierKeys: Readonly<Record<string, string>>;
  /** Supplier credentials sealed to this node's key; absent: SUPPLIER_KEYS only. */
  credentials?: CredentialStore;
  region: Region;
  nowMs: () => number;
  maxRequestBytes: number;
  /** Audio uploads (multipart); default 25 MB, OpenAI's limit. */
  maxAudioBytes?: number;
  upstreamFirstByteTimeoutMs: number;
  /**
   * The last bytes of an answer wait until its usage event is durable (default true): an answer a
   * client received in full is then billed even if the process dies right after. False trades
   * that for up to one group commit (~6 ms) less at the end of every answer.
   */
  durableAnswers?: boolean;
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, string | number>) => void;
}

export function createEdgeApp(deps: EdgeDeps) {
  const app = new Hono<EdgeEnv>();

  app.use(async (c, next) => {
    // Any request, a health check too: a restarted node appends what its journal kept.
    if (deps.outbox.resumeDue) deps.outbox.resume((p) => c.executionCtx.waitUntil(p));
    c.set('startedMs', deps.nowMs());
    c.set('requestId', newRequestId(deps.nowMs()));
    c.header('x-request-id', c.get('requestId'));
    c.header('x-taas-region', deps.region);
    // Overwritten with the real supplier once one answers.
    c.header('x-taas-supplier', 'none');
    await next();
  });

  /** Liveness: the process serves. */
  app.get('/healthz', (c) => c.json({ ok: true }));
  /**
   * Readiness: the node can also keep what it serves. With the outbox in a process of its own
   * down, answers end once their event is in the journal (or, without one, wait up to 30 s for
   * the outbox) and events pile up in memory; not ready, the node gets no new traffic until the
   * outbox is back.
   */
  app.get('/readyz', async (c) => {
    if (await deps.outbox.reachable((p) => c.executionCtx.waitUntil(p))) return c.json({ ok: true });
    return c.json(errorPayload('openai', 'usage_backlog', 'This gateway node cannot store usage right now.', { requestId: c.get('requestId') }), 503);
  });

  const v1 = new Hono<EdgeEnv>()
    .use(browserAccess())
    .use(gate(deps))
    .use(keepCredentialsFresh(deps))
    .get('/models', modelsRoute())
    .post('/chat/completions', recordUsage(deps), chatCompletionsRoute(deps))
    .post('/messages', recordUsage(deps), messagesRoute(deps))
    .post('/messages/count_tokens', recordUsage(deps), countTokensRoute(deps))
    .post('/responses', recordUsage(deps), responsesRoute(deps))
    .post('/codex/responses', recordUsage(deps), responsesRoute(deps))
    .post('/embeddings', recordUsage(deps), embeddingsRoute(deps))
    .post('/rerank', recordUsage(deps), rerankRoute(deps))
    .post('/audio/transcriptions', recordUsage(deps), audioTranscriptionsRoute(deps))
    .post('/audio/speech', recordUsage(deps), audioSpeechRoute(deps));
  app.route('/v1', v1);

  app.notFound((c) =>
    c.json(errorPayload(errorFormatFor(c.req.path), 'not_found', `No route for ${c.req.method} ${c.req.path}.`, { requestId: c.get('requestId') }), 404),
  );

  app.onError((err, c) => {
    const requestId = c.get('requestId') ?? null;
    const format = errorFormatFor(c.req.path);
    if (err instanceof ApiError) {
      c.get('usage')?.finish({ status: err.status });
      for (const [name, value] of Object.entries(err.headers)) c.header(name, value);
      return c.json(errorPayload(format, err.code, err.message, { param: err.param, requestId }), err.status);
    }
    c.get('usage')?.finish({ status: 500 });
    deps.log('error', 'unhandled error', { request_id: requestId ?? '', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    return c.json(errorPayload(format, 'internal_error', 'Internal error.', { requestId }), ERRORS.internal_error.status);
  });

  return app;
}
