// The order in which a request tries its allowed routes: the session's sticky route first (while
// its breaker lets it), then by priority; endpoints whose breaker is open go last, so they are
// tried only when nothing healthier is left. Pure: the caller says which endpoints are open.

import type { RouteEntry } from '../shared/manifest.ts';
import { endpointOf } from './circuit-breaker.ts';

export function orderRoutes(
  routes: readonly RouteEntry[],
  options: { isOpen: (endpoint: string) => boolean; sticky?: string | undefined },
): RouteEntry[] {
  const byPriority = [...routes].sort((a, b) => a.priority - b.priority);
  const healthy = byPriority.filter((r) => !options.isOpen(endpointOf(r)));
  const unhealthy = byPriority.filter((r) => !healthy.includes(r));
  const sticky = options.sticky === undefined ? undefined : healthy.find((r) => endpointOf(r) === options.sticky);
  return [...(sticky ? [sticky] : []), ...healthy.filter((r) => r !== sticky), ...unhealthy];
}
