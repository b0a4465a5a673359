// The edge app as a test drives it: the real app, manifest store and usage outbox, wired to a fake
// control plane, a fake supplier and an injected clock. One call to `send` is one client request
// with its own ExecutionContext.

import { createEdgeApp, type EdgeDeps } from '../../../edge/app.ts';
import { createAllowances } from '../../../edge/allowances.ts';
import { createCircuitBreaker } from '../../../edge/circuit-breaker.ts';
import { createStickySessions } from '../../../edge/stickiness.ts';
import { createManifestStore } from '../../../edge/manifest-store.ts';
import { createUsageOutbox } from '../../../edge/usage-outbox.ts';
import type { ManifestPayload } from '../../../shared/manifest.ts';
import type { UsageEvent } from '../../../shared/usage.ts';
import { createClock, type TestClock } from './clock.ts';
import type { Deferred } from './deferred.ts';
import { createExecutionContext } from './execution-context.ts';
import { createFakeAllowances, type FakeAllowances } from './fake-allowances.ts';
import { createFakeControlPlane, type FakeControlPlane } from './fake-control-plane.ts';
import { createFakeSupplier, type FakeSupplier } from './fake-supplier.ts';
import { createSigner, sign, type Signer } from './manifest-builder.ts';

export interface TestEdgeOptions {
  refreshMs?: number;
  maxStaleMs?: number;
  maxRequestBytes?: number;
  upstreamFirstByteTimeoutMs?: number;
  supplierKeys?: Record<string, string>;
  /** Sealed supplier credentials (edge/credential-store.ts); absent: supplierKeys only. */
  credentials?: EdgeDeps['credentials'];
  region?: EdgeDeps['region'];
  /** Consecutive supplier faults that open an endpoint's breaker (default 3). */
  breakerThreshold?: number;
  /** While set, the outbox does not say an event is stored until it resolves (a slow disk). */
  storeGate?: Deferred<void>;
  /** EdgeDeps.durableAnswers (default true). */
  durableAnswers?: boolean;
  /** Whether the outbox answers a readiness check (default: it does). */
  outboxReachable?: (waitUntil: (p: Promise<unknown>) => void) => Promise<boolean>;
}

export interface SendOptions {
  /** Sent as `Authorization: Bearer …` unless `headers` says otherwise. */
  key?: string;
  method?: string;
  /** An object is sent as JSON; a string or stream as is. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface TestEdge {
  clock: TestClock;
  signer: Signer;
  controlPlane: FakeControlPlane;
  /** The control plane's allowance endpoint: wallets, key budgets and limits, outages. */
  grants: FakeAllowances;
  supplier: FakeSupplier;
  /** Batches the outbox delivered, in order. */
  deliveredBatches: UsageEvent[][];
  /** Events recorded but not delivered yet. */
  pendingEvents: () => number;
  events: () => UsageEvent[];
  /** Signs the payload with the pinned key and makes it what the control plane serves. */
  publish: (payload: ManifestPayload) => Promise<void>;
  /** The store's own "fetch now", outside any request. */
  refreshManifest: () => Promise<void>;
  send: (path: string, options?: SendOptions) => Promise<Response>;
  /** The ExecutionContext of the most recent request. */
  lastContext: () => ReturnType<typeof createExecutionContext>;
  /** Waits for the background work (waitUntil) of every request so far: refreshes, usage delivery. */
  settle: () => Promise<void>;
  /** What the edge logged; an 'error' entry means an unhandled error became a 500. */
  logs: { level: string; msg: string; fields?: Record<string, string | number> }[];
}

export async function createTestEdge(options: TestEdgeOptions = {}): Promise<TestEdge> {
  const clock = createClock();
  const signer = await createSigner();
  const controlPlane = createFakeControlPlane();
  const supplier = createFakeSupplier();
  const deliveredBatches: UsageEvent[][] = [];
  const grants = createFakeAllowances({ nowMs: clock.nowMs });
  const logs: TestEdge['logs'] = [];
  const contexts: ReturnType<typeof createExecutionContext>[] = [];

  const memory = createUsageOutbox({
    deliver: async (events) => {
      deliveredBatches.push(structuredClone(events));
    },
    batchWindowMs: 1,
    maxQueued: 1000,
  });
  const gate = options.storeGate;
  const outbox: typeof memory = {
    ...memory,
    ...(gate ? { record: (event, waitUntil) => memory.record(event, waitUntil).then(async (r) => (await gate.promise, r)) } : {}),
    ...(options.outboxReachable ? { reachable: options.outboxReachable } : {}),
  };
  const manifest = createManifestStore({
    fetchManifest: controlPlane.fetchManifest,
    publicKeys: signer.publicKeys,
    nowMs: clock.nowMs,
    refreshMs: options.refreshMs ?? 2_000,
    maxStaleMs: options.maxStaleMs ?? 30_000,
  });
  const app = createEdgeApp({
    manifest,
    breaker: createCircuitBreaker({ nowMs: clock.nowMs, ...(options.breakerThreshold === undefined ? {} : { threshold: options.breakerThreshold }) }),
    sessions: createStickySessions({ nowMs: clock.nowMs }),
    outbox,
    allowances: createAllowances({ sync: grants.sync, nowMs: clock.nowMs }),
    fetchUpstream: supplier.fetch,
    supplierKeys: options.supplierKeys ?? {},
    ...(options.credentials ? { credentials: options.credentials } : {}),
    region: options.region ?? 'EU',
    nowMs: clock.nowMs,
    maxRequestBytes: options.maxRequestBytes ?? 64 * 1024,
    upstreamFirstByteTimeoutMs: options.upstreamFirstByteTimeoutMs ?? 1_000,
    ...(options.durableAnswers === undefined ? {} : { durableAnswers: options.durableAnswers }),
    log: (level, msg, fields) => logs.push({ level, msg, ...(fields ? { fields } : {}) }),
  });

  return {
    clock,
    signer,
    controlPlane,
    grants,
    supplier,
    deliveredBatches,
    events: () => deliveredBatches.flat(),
    pendingEvents: () => outbox.pending(),
    logs,
    async publish(payload) {
      controlPlane.publish(await sign(payload, signer));
    },
    refreshManifest: () => manifest.refresh(),
    async send(path, { key, method, body, headers = {} } = {}) {
      const context = createExecutionContext();
      contexts.push(context);
      const allHeaders: Record<string, string> = { ...headers };
      if (key !== undefined) allHeaders.authorization ??= `Bearer ${key}`;
      let payload: BodyInit | undefined;
      if (typeof body === 'string' || body instanceof ReadableStream || body instanceof Uint8Array) payload = body as BodyInit;
      else if (body !== undefined) {
        payload = JSON.stringify(body);
        allHeaders['content-type'] ??= 'application/json';
      }
      const init: RequestInit = { method: method ?? (body === undefined ? 'GET' : 'POST'), headers: allHeaders };
      if (payload !== undefined) init.body = payload;
      return app.request(`http://edge.test${path}`, init, {}, context.ctx);
    },
    lastContext: () => contexts.at(-1)!,
    async settle() {
      for (const context of contexts) await context.settle();
    },
  };
}
