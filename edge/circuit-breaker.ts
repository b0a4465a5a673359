// Keeps failing supplier endpoints out of rotation for a while (PRODUCT.md §4), per edge node.
// Closed → open after a run of consecutive supplier faults (or at once when the supplier itself
// says when to come back, via Retry-After); after the cool-down traffic may try again (half-open):
// a success closes the breaker, a failure reopens it for twice as long, up to a cap.

export interface BreakerOptions {
  nowMs: () => number;
  /** Consecutive faults that open the breaker. */
  threshold?: number;
  coolDownMs?: number;
  maxCoolDownMs?: number;
}

interface State {
  failures: number;
  /** How often the breaker opened since the endpoint last succeeded: each trip doubles the cool-down. */
  trips: number;
  openUntil: number;
}

export interface CircuitBreaker {
  /** Whether the endpoint is kept out now. Past its cool-down it is half-open: traffic may try it. */
  isOpen(endpoint: string): boolean;
  success(endpoint: string): void;
  /** A supplier fault; `retryAfterMs` when the supplier said how long to stay away. */
  failure(endpoint: string, retryAfterMs?: number): void;
}

export function createCircuitBreaker(options: BreakerOptions): CircuitBreaker {
  const threshold = options.threshold ?? 3;
  const baseCoolDown = options.coolDownMs ?? 30_000;
  const maxCoolDown = options.maxCoolDownMs ?? 300_000;
  const states = new Map<string, State>();

  return {
    isOpen(endpoint) {
      const state = states.get(endpoint);
      return state !== undefined && options.nowMs() < state.openUntil;
    },
    success(endpoint) {
      // Closed again: forget the failure history entirely.
      states.delete(endpoint);
    },
    failure(endpoint, retryAfterMs) {
      const state = states.get(endpoint) ?? { failures: 0, trips: 0, openUntil: 0 };
      states.set(endpoint, state);
      state.failures++;
      const now = options.nowMs();
      if (retryAfterMs !== undefined && retryAfterMs > 0) {
        state.openUntil = Math.max(state.openUntil, now + Math.min(retryAfterMs, maxCoolDown));
      } else if (state.failures >= threshold) {
        // Also the failure of a half-open trial: the run is still unbroken, so it reopens, longer.
        state.openUntil = now + Math.min(baseCoolDown * 2 ** state.trips, maxCoolDown);
        state.trips++;
      }
    },
  };
}

/** The breaker's key for a route: one supplier endpoint. */
export function endpointOf(route: { supplier_id: string; base_url: string }): string {
  return `${route.supplier_id} ${route.base_url}`;
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined if absent or unusable. */
export function retryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
