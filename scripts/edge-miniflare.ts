// Runs the bundled edge Worker under Miniflare (a real workerd child process) on an explicit port.

import { Log, LogLevel, Miniflare } from 'miniflare';
import { readFileSync } from 'node:fs';

export const COMPATIBILITY_DATE = '2026-04-26';

export interface EdgeBindings {
  NODE_ID: string;
  NODE_PRIVATE_KEY: string;
  /** X25519 private JWK: opens credentials sealed to this node (absent: SUPPLIER_KEYS only). */
  NODE_ENCRYPTION_KEY?: string;
  CREDENTIAL_REFRESH_SECONDS?: string;
  CONTROL_PLANE_URL: string;
  MANIFEST_PUBLIC_KEYS: string;
  EDGE_REGION?: string;
  MANIFEST_REFRESH_SECONDS?: string;
  MANIFEST_MAX_STALE_SECONDS?: string;
  SUPPLIER_KEYS?: string;
  UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS?: string;
  /** Bound of the durable usage outbox (default 1,000,000 events). */
  USAGE_OUTBOX_MAX_EVENTS?: string;
  /**
   * 'true' (default): the end of an answer waits for its usage event's journal file where the node
   * has a journal, else the outbox's commit; 'commit': always the commit; 'false': no wait.
   */
  USAGE_DURABLE_BEFORE_END?: string;
}

export interface RunningEdge {
  url: string;
  close(): Promise<void>;
  /** The workerd process, where the runner knows it (plain workerd); for measurements only. */
  pid?: number;
  /** The last started usage-outbox process of the node when it runs apart (plain workerd). */
  outboxPid?: () => number | null;
  /** The last ~4,000 characters of the node's log lines and errors (plain workerd), for a bench's failures. */
  logTail?: () => string;
}

export interface StartEdgeOptions {
  bundle: string;
  port: number;
  host?: string;
  bindings: EdgeBindings;
  verbose?: boolean;
  /**
   * Directory of the Durable Objects: the ManifestVault keeps the last verified manifest (a
   * restarted edge serves while the control plane is down) and the UsageOutboxObject the usage
   * events not yet delivered. Absent: kept in memory only, lost when the edge stops.
   */
  persistDir?: string;
}

export async function startEdge(options: StartEdgeOptions): Promise<RunningEdge> {
  const host = options.host ?? '127.0.0.1';
  const signalListeners = { SIGINT: process.listeners('SIGINT'), SIGTERM: process.listeners('SIGTERM') };
  const mf = new Miniflare({
    modules: [{ type: 'ESModule', path: options.bundle, contents: readFileSync(options.bundle, 'utf8') }],
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: { ...options.bindings },
    durableObjects: { MANIFEST_VAULT: 'ManifestVault', USAGE_OUTBOX: { className: 'UsageOutboxObject', useSQLite: true } },
    // The usage journal beside the objects (edge/usage-journal.ts); without a directory there is
    // nothing to survive a restart, and answers wait for the outbox as before.
    ...(options.persistDir
      ? { durableObjectsPersist: options.persistDir, serviceBindings: { USAGE_JOURNAL: { disk: { path: options.persistDir, writable: true } } } }
      : {}),
    host,
    port: options.port,
    cf: false,
    log: new Log(options.verbose ? LogLevel.INFO : LogLevel.WARN),
  });
  const url = await mf.ready;
  // Miniflare exits the process on SIGINT/SIGTERM at once (after killing workerd), which cuts
  // short the caller's own shutdown — npm start closing PGlite cleanly, for one. Its handlers are
  // removed; the caller stops the edge with close(), and Miniflare's exit hook still kills workerd
  // if the process ends without it.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    for (const listener of process.listeners(signal)) {
      if (!signalListeners[signal].includes(listener)) process.removeListener(signal, listener);
    }
  }
  return {
    url: url.origin,
    close: () => mf.dispose(),
  };
}
