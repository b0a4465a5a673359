// The second reference hop: a bare pass-through Worker under Miniflare (its own workerd process),
// configured like scripts/edge-miniflare.ts. Edge minus this = the cost of the edge's own code.

import { Log, LogLevel, Miniflare } from 'miniflare';
import { COMPATIBILITY_DATE } from '../scripts/edge-miniflare.ts';

const PASS_THROUGH = `
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.UPSTREAM + url.pathname + url.search, request);
  },
};
`;

export async function startWorkerdHop(port: number, upstreamOrigin: string): Promise<{ url: string; close(): Promise<void> }> {
  const mf = new Miniflare({
    modules: true,
    script: PASS_THROUGH,
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: { UPSTREAM: upstreamOrigin },
    host: '127.0.0.1',
    port,
    cf: false,
    log: new Log(LogLevel.WARN),
  });
  const url = await mf.ready;
  return { url: url.origin, close: () => mf.dispose() };
}
