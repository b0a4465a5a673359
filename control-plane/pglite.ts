// Embedded PostgreSQL (PGlite, Postgres in WASM) served over TCP on loopback, for running the
// control plane without a database server. Startup takes ~3.5 s and ~750 MB RSS.
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** Where `npm start` and `npm run migrate` keep the embedded database, relative to the repo root. */
export const DEFAULT_PGLITE_DATA_DIR = '.taas/pgdata';

export interface EmbeddedPglite {
  host: string;
  port: number;
  /** A postgres:// URL for the socket server (user and database `postgres`, no password). */
  url: string;
  close(): Promise<void>;
}

export interface StartPgliteOptions {
  /** Absent → in-memory; the data is gone after close(). */
  dataDir?: string;
}

export async function startPglite(options: StartPgliteOptions = {}): Promise<EmbeddedPglite> {
  if (options.dataDir !== undefined) await mkdir(options.dataDir, { recursive: true });
  const db = options.dataDir === undefined ? new PGlite() : new PGlite(options.dataDir);
  await db.waitReady;
  const host = '127.0.0.1';
  // PGlite is one backend session: the server's queue keeps a transaction's queries together, but
  // session state (advisory locks, SET) is shared, so db.ts drives it through a single connection.
  // The headroom here only lets a replacement connection in before the old one's close is seen.
  const server = new PGLiteSocketServer({ db, host, port: 0, maxConnections: 4 });
  try {
    await server.start();
  } catch (error) {
    await db.close();
    throw error;
  }
  const port = Number(server.getServerConn().split(':').pop());

  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    url: `postgres://postgres@${host}:${port}/postgres`,
    close() {
      closing ??= (async () => {
        await server.stop();
        // stop() detaches its handlers without awaiting them, and a detach may still ROLLBACK
        // through the database; let those finish before the database goes away.
        await new Promise((resolve) => setTimeout(resolve, 20));
        if (!db.closed) await db.close();
      })();
      return closing;
    },
  };
}
