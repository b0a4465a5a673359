// Runs the bundled edge Worker under Miniflare (a real workerd child process) on an explicit port.

import { Log, LogLevel, Miniflare } from 'miniflare';
import { readFileSync } from 'node:fs';

export const COMPATIBILITY_DATE = '2026-04-26';

export interface EdgeBindings {
  NODE_ID: string;
  NODE_PRIVATE_KEY: string;
  CONTROL_PLANE_URL: string;
  MANIFEST_PUBLIC_KEYS: string;
  EDGE_REGION?: string;
  MANIFEST_REFRESH_SECONDS?: string;
  MANIFEST_MAX_STALE_SECONDS?: string;
  SUPPLIER_KEYS?: string;
  UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS?: string;
}

export interface RunningEdge {
  url: string;
  close(): Promise<void>;
}

export async function startEdge(options: { bundle: string; port: number; host?: string; bindings: EdgeBindings; verbose?: boolean }): Promise<RunningEdge> {
  const host = options.host ?? '127.0.0.1';
  const mf = new Miniflare({
    modules: [{ type: 'ESModule', path: options.bundle, contents: readFileSync(options.bundle, 'utf8') }],
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: { ...options.bindings },
    host,
    port: options.port,
    cf: false,
    log: new Log(options.verbose ? LogLevel.INFO : LogLevel.WARN),
  });
  const url = await mf.ready;
  return {
    url: url.origin,
    close: () => mf.dispose(),
  };
}
