// Sends a request upstream, trying the allowed routes in order until one answers with something
// other than a supplier fault. Only the response headers are awaited; the body streams later.

import type { RouteEntry } from '../shared/manifest.ts';
import { MAX_ATTEMPTS, isSupplierFault } from './failover.ts';

export type AttemptOutcome = 'network_error' | 'timeout' | number;

export type ForwardResult =
  | { ok: true; response: Response; route: RouteEntry; attempts: AttemptOutcome[] }
  | { ok: false; timedOut: boolean; attempts: AttemptOutcome[] };

export interface ForwardOptions {
  fetch: typeof fetch;
  /** Per attempt: time allowed until the response headers arrive. */
  firstByteTimeoutMs: number;
}

export async function forwardWithFailover(
  routes: readonly RouteEntry[],
  build: (route: RouteEntry) => { url: string; init: RequestInit },
  options: ForwardOptions,
): Promise<ForwardResult> {
  const attempts: AttemptOutcome[] = [];
  for (const route of routes.slice(0, MAX_ATTEMPTS)) {
    const { url, init } = build(route);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), options.firstByteTimeoutMs);
    let response: Response;
    try {
      response = await options.fetch(url, { ...init, signal: controller.signal });
    } catch {
      attempts.push(controller.signal.aborted ? 'timeout' : 'network_error');
      continue;
    } finally {
      clearTimeout(timer);
    }
    if (isSupplierFault(response.status)) {
      attempts.push(response.status);
      // Release the connection of a response we discard.
      await response.body?.cancel().catch(() => {});
      continue;
    }
    attempts.push(response.status);
    return { ok: true, response, route, attempts };
  }
  return { ok: false, timedOut: attempts.length > 0 && attempts.every((a) => a === 'timeout'), attempts };
}
