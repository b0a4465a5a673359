// When to try the next route: pure policy. Failover is decided before the first byte reaches the
// client; a 4xx the client caused is returned as is, never retried elsewhere.

/** Statuses that say "this supplier, not this request": another route may well succeed. */
export function isSupplierFault(status: number): boolean {
  // 401/403: our credential for that supplier is wrong; 404: its model name is stale in our catalog.
  return status === 401 || status === 403 || status === 404 || status === 408 || status === 429 || status >= 500;
}

/** At most this many routes are tried for one request, however many the model has. */
export const MAX_ATTEMPTS = 3;
