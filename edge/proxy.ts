// Sends a request upstream, trying the routes in the order given until one answers with something
// other than a supplier fault. Only the response headers are awaited; the body streams later.

import type { RouteEntry } from '../shared/manifest.ts';
import { retryAfterMs } from './circuit-breaker.ts';
import { MAX_ATTEMPTS, isSupplierFault } from './failover.ts';

export interface Attempt {
  route: RouteEntry;
  outcome: 'network_error' | 'timeout' | number;
  /** The supplier's Retry-After on a fault, in ms. */
  retryAfterMs?: number;
}

export type ForwardResult =
  | { ok: true; response: Response; route: RouteEntry; attempts: Attempt[] }
  | { ok: false; timedOut: boolean; attempts: Attempt[] };

export interface ForwardOptions {
  fetch: typeof fetch;
  /** Per attempt: time allowed until the response headers arrive. */
  firstByteTimeoutMs: number;
  nowMs: () => number;
}

/** Whether an attempt says the supplier (not the request) failed. */
export function isFault(attempt: Attempt): boolean {
  return typeof attempt.outcome !== 'number' || isSupplierFault(attempt.outcome);
}

export async function forwardWithFailover(
  routes: readonly RouteEntry[],
  build: (route: RouteEntry) => { url: string; init: RequestInit },
  options: ForwardOptions,
): Promise<ForwardResult> {
  const attempts: Attempt[] = [];
  for (const route of routes.slice(0, MAX_ATTEMPTS)) {
    const { url, init } = build(route);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), options.firstByteTimeoutMs);
    let response: Response;
    try {
      response = await options.fetch(url, { ...init, signal: controller.signal });
    } catch {
      attempts.push({ route, outcome: controller.signal.aborted ? 'timeout' : 'network_error' });
      continue;
    } finally {
      clearTimeout(timer);
    }
    if (isSupplierFault(response.status)) {
      const retryAfter = retryAfterMs(response.headers.get('retry-after'), options.nowMs());
      attempts.push({ route, outcome: response.status, ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }) });
      // Release the connection of a response we discard.
      await response.body?.cancel().catch(() => {});
      continue;
    }
    attempts.push({ route, outcome: response.status });
    return { ok: true, response, route, attempts };
  }
  return { ok: false, timedOut: attempts.length > 0 && attempts.every((a) => a.outcome === 'timeout'), attempts };
}
