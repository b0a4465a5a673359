// A throwaway database for a bench: created on the local PostgreSQL, migrated, handed to `run`,
// and dropped afterwards — also when the bench fails or is stopped with Ctrl-C.
//
// BENCH_DATABASE_URL is the admin URL (default TEST_DATABASE_URL or postgres@127.0.0.1:5432).

import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { openDatabase, type Database } from '../control-plane/db.ts';
import { migrate } from '../control-plane/migrate.ts';

const ADMIN_URL = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));

async function onAdmin(sql: string): Promise<void> {
  const admin = await openDatabase({ url: ADMIN_URL, maxConnections: 1 });
  try {
    await admin.query(sql);
  } finally {
    await admin.close();
  }
}

/** `cleanup` runs before the database is dropped (servers still holding connections). */
export async function withScratchDatabase<T>(
  prefix: string,
  options: { maxConnections: number },
  run: (db: Database, onCleanup: (cleanup: () => void) => void) => Promise<T>,
): Promise<T> {
  const name = `taas_bench_${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  await onAdmin(`CREATE DATABASE ${name}`);
  let db: Database | undefined;
  const cleanups: (() => void)[] = [];
  const drop = async () => {
    for (const cleanup of cleanups) cleanup();
    await db?.close();
    await onAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  };
  process.once('SIGINT', () => void drop().finally(() => process.exit(130)));
  try {
    db = await openDatabase({ url: url.toString(), maxConnections: options.maxConnections });
    await migrate(db, { dir: MIGRATIONS_DIR });
    return await run(db, (cleanup) => cleanups.push(cleanup));
  } finally {
    await drop();
  }
}
