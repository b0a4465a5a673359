// Session stickiness (PRODUCT.md §1): a session id keeps a conversation on the route it last used,
// so the supplier's prompt cache stays warm. Precedence: the X-Session-Id header, then body
// metadata.session_id, then metadata.sticky_key. Stickiness only reorders the routes the key may
// use anyway, and a session whose route fails is moved (forgotten, then re-learned).

import { ApiError } from '../shared/errors.ts';

const MAX_SESSION_ID = 256;
// No control characters (C0, DEL, C1): ids are echoed into logs and maps, never trusted as text.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** The session id of a request, null when it has none; a 400 naming the field when it is invalid. */
export function sessionIdOf(headers: Headers, metadata: unknown): string | null {
  const sources: [string, unknown][] = [['X-Session-Id', headers.get('x-session-id')]];
  if (metadata && typeof metadata === 'object') {
    const m = metadata as Record<string, unknown>;
    sources.push(['metadata.session_id', m.session_id], ['metadata.sticky_key', m.sticky_key]);
  }
  for (const [param, value] of sources) {
    if (value === null || value === undefined) continue;
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_SESSION_ID || CONTROL.test(value)) {
      throw new ApiError('invalid_request', `Invalid ${param}: a string of 1 to ${MAX_SESSION_ID} characters without control characters.`, { param });
    }
    return value;
  }
  return null;
}

export interface StickySessions {
  /** The route (endpoint key) this session used last, if still remembered. */
  get(session: string): string | undefined;
  set(session: string, endpoint: string): void;
  forget(session: string): void;
}

/** In-memory, per edge node, bounded: the oldest session is evicted first; entries expire. */
export function createStickySessions(options: { nowMs: () => number; maxEntries?: number; ttlMs?: number }): StickySessions {
  const max = options.maxEntries ?? 100_000;
  const ttl = options.ttlMs ?? 60 * 60 * 1000;
  // A Map iterates in insertion order; re-inserting on use keeps it least-recently-used first.
  const entries = new Map<string, { endpoint: string; at: number }>();
  return {
    get(session) {
      const entry = entries.get(session);
      if (!entry) return undefined;
      if (options.nowMs() - entry.at > ttl) {
        entries.delete(session);
        return undefined;
      }
      return entry.endpoint;
    },
    set(session, endpoint) {
      entries.delete(session);
      entries.set(session, { endpoint, at: options.nowMs() });
      if (entries.size > max) entries.delete(entries.keys().next().value!);
    },
    forget(session) {
      entries.delete(session);
    },
  };
}
