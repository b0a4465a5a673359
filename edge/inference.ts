// The one path every inference surface takes after parsing its body: policy, route choice,
// forwarding with failover, supplier errors, then the surface's own answer with metering on the
// side. A surface describes only what differs (how to address a route, how to answer); nothing
// reaches a supplier any other way, so there is no ungoverned pass-through.

import type { Context } from 'hono';
import { ApiError } from '../shared/errors.ts';
import type { RouteEntry, SupplierFormat } from '../shared/manifest.ts';
import { scopesOf, settlementOf, worstCaseOf, type RequestBound } from './admission.ts';
import type { EdgeDeps } from './app.ts';
import { credentialFor } from './credential-store.ts';
import type { OnEnd } from './metering.ts';
import { admit, surfaceMismatch, type SurfaceType } from './policy.ts';
import { endpointOf } from './circuit-breaker.ts';
import { forwardWithFailover, isFault } from './proxy.ts';
import { orderRoutes } from './route-order.ts';
import { sessionIdOf } from './stickiness.ts';
import type { EdgeEnv } from './request-context.ts';
import { rejectionFromSupplier } from './supplier-rejection.ts';

export interface UpstreamRequest {
  url: string;
  init: RequestInit;
}

export interface InferencePlan {
  /** The public model id the client asked for. */
  model: string;
  /** The body's `metadata`, where a session id may be (stickiness); undefined when the API has none. */
  metadata?: unknown;
  /** The model type this surface serves; a model of another type is a 400 before any supplier call. */
  modelType?: SurfaceType;
  /** Size of the client's body: the input estimate when a supplier reports no usage (~4 bytes a token). */
  requestBytes: number;
  /** What the request can use at most (edge/admission.ts): its max_tokens, audio length, …; defaults from the model. */
  bound?: RequestBound;
  /** The supplier formats this surface can reach (directly or by translation); other routes are skipped. */
  formats: readonly SupplierFormat[];
  /** The request for a route that is actually tried (built lazily: failover may never get there). */
  upstream(route: RouteEntry, credential: string | undefined): UpstreamRequest;
  /**
   * The client's answer from a supplier's successful response, metered (metering.ts `meter`):
   * `onEnd` is called exactly once, and the answer's end waits for the promise it returns.
   */
  respond(response: Response, body: ReadableStream<Uint8Array>, route: RouteEntry, onEnd: OnEnd): Answer;
}

export interface Answer {
  /** A stream, or an answer read whole: its bytes, given once its usage event lets it end (meter-json.ts). */
  body: ReadableStream<Uint8Array> | Promise<Uint8Array<ArrayBuffer>>;
  contentType: string;
  status?: number;
}

export async function runInference(c: Context<EdgeEnv>, deps: EdgeDeps, plan: InferencePlan): Promise<Response> {
  const usage = c.get('usage');
  usage.model(plan.model);
  const admission = admit(c.get('key'), c.get('manifest'), plan.model);
  if (!admission.ok) throw new ApiError(admission.code, admission.message, admission.param ? { param: admission.param } : {});
  const mismatch = plan.modelType ? surfaceMismatch(admission.model, plan.modelType) : null;
  if (mismatch) throw new ApiError('invalid_request', mismatch, { param: 'model' });
  const routes = admission.routes.filter((r) => plan.formats.includes(r.format));
  if (routes.length === 0) throw new ApiError('upstream_failed', `No supplier of '${plan.model}' serves this API yet.`);

  // Sessions are per key and model: another tenant's session id can never steer this one. Read
  // (and a malformed one refused) before admission: a 400 uses none of the key's RPM.
  const session = sessionIdOf(c.req.raw.headers, plan.metadata);

  // A node that could not record what it serves must not serve it (the outbox is at its bound
  // because the control plane has been unreachable for long): refuse before any supplier call.
  if ((await deps.outbox.state()).full) {
    throw new ApiError('usage_backlog', 'This gateway node cannot record usage right now. Retry shortly.', { headers: { 'retry-after': '30' } });
  }
  // Budgets, wallet and rate limits: the worst case is reserved before any supplier is called
  // (a denial throws 402 / 429 here), and settled to the real cost when the usage event is out.
  const model = admission.model;
  const pending = deps.allowances.admit(scopesOf(c.get('key')), worstCaseOf(model, plan.requestBytes, plan.bound), (p) => c.executionCtx.waitUntil(p));
  const reservation = pending instanceof Promise ? await pending : pending;
  usage.admitted({ atMs: reservation.atMs, leaseIds: reservation.leaseIds, settle: (event) => reservation.settle(settlementOf(model, event)) });
  for (const [name, value] of Object.entries(reservation.headers)) c.header(name, value);

  const sessionKey = session === null ? null : `${c.get('key').id}\u0000${plan.model}\u0000${session}`;
  const ordered = orderRoutes(routes, { isOpen: deps.breaker.isOpen, sticky: sessionKey === null ? undefined : deps.sessions.get(sessionKey) });
  const forwarded = await forwardWithFailover(ordered, (route) => plan.upstream(route, credentialFor(deps, route)), {
    fetch: deps.fetchUpstream,
    firstByteTimeoutMs: deps.upstreamFirstByteTimeoutMs,
    nowMs: deps.nowMs,
  });
  for (const attempt of forwarded.attempts) {
    if (isFault(attempt)) deps.breaker.failure(endpointOf(attempt.route), attempt.retryAfterMs);
    else deps.breaker.success(endpointOf(attempt.route));
  }
  if (sessionKey !== null) {
    if (forwarded.ok) deps.sessions.set(sessionKey, endpointOf(forwarded.route));
    else deps.sessions.forget(sessionKey);
  }
  if (!forwarded.ok) {
    // Every supplier tried asked to wait (429 or 503 with Retry-After): the client is told the
    // shortest wait, so its retry (the official SDKs honour Retry-After) comes when one is back.
    const waits = forwarded.attempts.map((a) => a.retryAfterMs);
    const soonest = waits.length > 0 && waits.every((w) => w !== undefined) ? Math.min(...(waits as number[])) : null;
    const headers: Record<string, string> = soonest === null ? {} : { 'retry-after': String(Math.max(1, Math.ceil(soonest / 1000))) };
    throw forwarded.timedOut
      ? new ApiError('upstream_timeout', 'Every allowed supplier timed out.')
      : new ApiError('upstream_failed', 'Every allowed supplier failed. Retry later.', { headers });
  }
  const { response, route } = forwarded;
  usage.route(route);
  c.header('x-taas-supplier', route.supplier_id);
  c.header('x-taas-region', route.region);
  if (!response.ok) throw await rejectionFromSupplier(response);
  if (!response.body) throw new ApiError('upstream_failed', 'The supplier sent an empty answer.');

  const answer = plan.respond(response, response.body, route, (result) => {
    // Metadata only: the runtime's message for the failed read, never what was read.
    if (result.outcome === 'upstream_failed') {
      deps.log('warn', 'supplier failed mid-answer', { request_id: c.get('requestId'), supplier: route.supplier_id, error: result.failure ?? 'unknown' });
    }
    return usage.finish({
      status: result.status ?? response.status,
      usage: result.usage,
      estimate: { input: Math.ceil(plan.requestBytes / 4), output: result.outputEstimate },
    });
  });
  const body = answer.body instanceof ReadableStream ? answer.body : await answer.body;
  c.header('content-type', answer.contentType);
  if (answer.contentType.startsWith('text/event-stream')) c.header('cache-control', 'no-cache');
  return c.body(body, (answer.status ?? response.status) as 200);
}
