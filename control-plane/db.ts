// The one way the control plane talks to Postgres: the Neon driver's Pool for all three targets
// (Neon, self-hosted Postgres through an in-process db-bridge, embedded PGlite).
import { AsyncLocalStorage } from 'node:async_hooks';
import { Client, Pool, type ClientConfig, type NeonConfig, type PoolClient } from '@neondatabase/serverless';
import WebSocket from 'ws';
import { startDbBridge, type DbBridge } from './db-bridge.ts';
import { startPglite, type EmbeddedPglite } from './pglite.ts';

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Queryable {
  // `any` by default so call sites can name the row shape once instead of casting each field.
  query<R extends Record<string, unknown> = Record<string, any>>(text: string, params?: unknown[]): Promise<QueryResult<R>>;
}

export type DatabaseTarget = 'postgres' | 'neon' | 'pglite';

export interface Database extends Queryable {
  readonly target: DatabaseTarget;
  /** BEGIN … COMMIT on one pooled connection; ROLLBACK and rethrow on any error. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * One dedicated connection for the callback (advisory locks, LISTEN, …). Leave it as you found
   * it: on success it goes back to the pool; if the callback throws it is discarded.
   */
  withConnection<T>(fn: (conn: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** postgres://… URL. Absent → embedded PGlite. Host ending in `.neon.tech` → Neon directly (wss, driver defaults). Otherwise → self-hosted Postgres through an in-process db-bridge that allows only that URL's host:port. */
  url?: string;
  /** PGlite data directory; absent → in-memory. Ignored when url is set. */
  pgliteDataDir?: string;
  /**
   * Pool size, default 10; forced to 1 for PGlite (single-session database: transactions from
   * several connections must not interleave). With one connection, using the Database itself
   * inside transaction()/withConnection() would wait forever, so it throws instead: use the
   * callback's `tx`/`conn` handle.
   */
  maxConnections?: number;
  /** Connection errors the pool survives (an idle connection dropped by the server). Default: one line on stderr. */
  onError?: (error: Error) => void;
}

/** The driver settings that may differ between two Database objects in one process. */
type SocketSettings = Partial<Pick<NeonConfig, 'webSocketConstructor' | 'wsProxy' | 'useSecureWebSocket' | 'pipelineConnect' | 'pipelineTLS' | 'coalesceWrites'>>;

const CLOSE_GRACE_MS = 3_000;

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  const { url } = options;
  const max = options.maxConnections ?? 10;
  const onError = options.onError ?? ((error: Error) => console.warn(`db: connection error: ${error.message}`));

  if (url === undefined) {
    const pglite = await startPglite(options.pgliteDataDir === undefined ? {} : { dataDir: options.pgliteDataDir });
    try {
      return await bridged('pglite', pglite.url, { host: pglite.host, port: pglite.port }, 1, onError, pglite);
    } catch (error) {
      await pglite.close();
      throw error;
    }
  }

  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new Error('openDatabase: the database URL has no host (unix sockets are not supported)');
  if (host.endsWith('.neon.tech')) {
    // Node 20 has no global WebSocket; everything else stays at the driver's Neon defaults.
    return fromPool('neon', createPool(url, max, { webSocketConstructor: WebSocket }), max, onError, async () => {});
  }
  return bridged('postgres', url, { host, port: parsed.port === '' ? 5432 : Number(parsed.port) }, max, onError);
}

async function bridged(
  target: DatabaseTarget,
  url: string,
  address: { host: string; port: number },
  max: number,
  onError: (error: Error) => void,
  pglite?: EmbeddedPglite,
): Promise<Database> {
  const bridge: DbBridge = await startDbBridge({ target: address });
  const pool = createPool(url, max, {
    webSocketConstructor: WebSocket,
    wsProxy: (host, port) => `127.0.0.1:${bridge.port}/v1?address=${host}:${port}`,
    useSecureWebSocket: false,
    // Pipelining the password only works for cleartext auth; Postgres 15 asks for SCRAM.
    pipelineConnect: false,
    pipelineTLS: false,
    // The driver coalesces a query's protocol messages by sending them from a setTimeout(0):
    // in Node that is ≥ 1 ms on every statement (README "Database"). Off here; the messages of
    // one statement are gathered in a microtask instead (sendGatheredInMicrotask below).
    coalesceWrites: false,
  }, sendGatheredInMicrotask);
  return fromPool(target, pool, max, onError, async () => {
    await bridge.close();
    await pglite?.close();
  });
}

/** The driver's WebSocket-backed socket, as far as sendGatheredInMicrotask touches it. */
export interface DriverSocket {
  rawWrite(data: Uint8Array): void;
  ws?: { send(data: Uint8Array): void } | null;
}

/**
 * node-postgres writes a statement as several protocol messages (Parse, Bind, Describe, Execute,
 * Sync) in one synchronous run; sent one by one, each is a WebSocket frame and a TCP write at
 * both ends of the bridge. This gathers what one run writes and sends it as one frame from a
 * microtask: no timer, 26 % less CPU a statement (`SELECT 1`: 0.42 → 0.31 ms). It replaces the
 * driver's `rawWrite` (an internal of the pinned version, where coalesceWrites is read): should
 * a later version rename it, this assignment is inert and the driver sends each message at once
 * (coalesceWrites off), which is still correct.
 */
export function sendGatheredInMicrotask(socket: DriverSocket): void {
  let parts: Uint8Array[] = [];
  const flush = () => {
    if (parts.length === 0) return;
    const frame = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    parts = [];
    socket.ws?.send(frame);
  };
  socket.rawWrite = (data) => {
    parts.push(data);
    // The driver closes the WebSocket right after writing Terminate: that one goes at once, so
    // the server hears a goodbye rather than a dropped connection.
    if (isTerminate(data)) flush();
    else if (parts.length === 1) queueMicrotask(flush);
  };
}

/** The frontend Terminate message: 'X' and a length of 4. */
function isTerminate(data: Uint8Array): boolean {
  return data.length === 5 && data[0] === 0x58 && data[1] === 0 && data[2] === 0 && data[3] === 0 && data[4] === 4;
}

/**
 * neonConfig is global in the driver, but each Client's socket carries its own overrides (the
 * socket's instance setters, read through `client.neonConfig`), so the settings go on a Client
 * subclass per pool. The Neon Pool ignores `options.Client` (it sets `this.Client` after the
 * base constructor), hence the assignment after construction.
 */
function createPool(
  connectionString: string,
  max: number,
  settings: SocketSettings,
  adaptSocket?: (socket: DriverSocket) => void,
): { pool: Pool; hungUp: () => Promise<void> } {
  const pool = new Pool({ connectionString, max });
  // pool.end() forgets a connection as soon as it asks it to end; these settle when the server
  // has actually hung up, so close() does not cut a goodbye short.
  const goodbyes = new Set<Promise<void>>();
  pool.Client = class ConfiguredClient extends Client {
    constructor(config?: string | ClientConfig) {
      super(config);
      Object.assign(this.neonConfig, settings);
      adaptSocket?.((this as unknown as { connection: { stream: DriverSocket } }).connection.stream);
      // A connection lost while checked out (or after end()) is emitted here; without a listener
      // it would crash the process. The query in flight, if any, is rejected on its own.
      this.on('error', () => {});
      const goodbye = new Promise<void>((resolve) => this.once('end', () => resolve()));
      goodbyes.add(goodbye);
      void goodbye.then(() => goodbyes.delete(goodbye));
    }
  };
  return { pool, hungUp: async () => void (await Promise.all(goodbyes)) };
}

function fromPool(
  target: DatabaseTarget,
  { pool, hungUp }: { pool: Pool; hungUp: () => Promise<void> },
  max: number,
  onError: (error: Error) => void,
  cleanup: () => Promise<void>,
): Database {
  let closing: Promise<void> | undefined;
  pool.on('error', (error: Error) => {
    if (closing === undefined) onError(error);
  });

  // Marks the async context of a transaction/withConnection callback, so that on a one-connection
  // pool a nested use of the Database fails loudly instead of waiting for itself forever.
  const holding = new AsyncLocalStorage<{ active: boolean }>();
  function checkNotNested(): void {
    if (max === 1 && holding.getStore()?.active) {
      throw new Error("db: this Database's only connection is held by the enclosing transaction/withConnection; use its tx/conn handle");
    }
  }
  async function hold<T>(fn: () => Promise<T>): Promise<T> {
    const mark = { active: true };
    try {
      return await holding.run(mark, fn);
    } finally {
      mark.active = false;
    }
  }

  return {
    target,
    async query(text, params) {
      checkNotNested();
      return run(pool, text, params);
    },
    async withConnection(fn) {
      checkNotNested();
      const client = await pool.connect();
      let reusable = false;
      try {
        const result = await hold(() => fn(queryable(client)));
        reusable = true;
        return result;
      } finally {
        // After a failed callback it may still hold a session advisory lock or sit mid-protocol.
        client.release(!reusable);
      }
    },
    async transaction(fn) {
      checkNotNested();
      const client = await pool.connect();
      const tx = queryable(client);
      let healthy = true;
      try {
        await tx.query('BEGIN');
        const result = await hold(() => fn(tx));
        await tx.query('COMMIT');
        return result;
      } catch (error) {
        // Rethrow the callback's error; a connection that cannot even ROLLBACK is discarded.
        await tx.query('ROLLBACK').catch(() => {
          healthy = false;
        });
        throw error;
      } finally {
        client.release(!healthy);
      }
    },
    close() {
      closing ??= (async () => {
        // pool.end() waits for checked-out connections to come back, then each connection for the
        // server to hang up; a stuck one must not stall shutdown, and cleanup() (closing the
        // bridge) cuts off whatever is left.
        await withTimeout(pool.end().then(hungUp), CLOSE_GRACE_MS);
        await cleanup();
      })();
      return closing;
    },
  };
}

function queryable(client: PoolClient): Queryable {
  return { query: (text, params) => run(client, text, params) };
}

interface Runner {
  query(text: string, values?: unknown[]): Promise<unknown>;
}

async function run<R>(runner: Runner, text: string, params: unknown[] | undefined): Promise<QueryResult<R>> {
  const raw = await runner.query(text, params);
  // A multi-statement text (simple protocol, no params) yields one result per statement.
  const last = (Array.isArray(raw) ? raw[raw.length - 1] : raw) as { rows?: R[]; rowCount?: number | null } | undefined;
  return { rows: last?.rows ?? [], rowCount: last?.rowCount ?? 0 };
}

async function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([promise.catch(() => {}), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
