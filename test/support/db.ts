// Test databases: each test file gets its own migrated database, cloned from the template that
// global-setup prepared on the local PostgreSQL, or an in-memory PGlite when there is none.
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { openDatabase, type Database, type DatabaseTarget } from '../../control-plane/db.ts';
import { migrate } from '../../control-plane/migrate.ts';
import { databaseUrl, MIGRATIONS_DIR, quoteIdent } from './global-setup.ts';

export interface TestDatabase {
  db: Database;
  /** postgres:// URL a child process can use as DATABASE_URL; null for PGlite (in this process only). */
  url: string | null;
  target: DatabaseTarget;
  /** Closes the database and, on PostgreSQL, drops it. */
  drop(): Promise<void>;
}

/** Whether a real PostgreSQL is available to this run (tests that need one can skip without it). */
export function postgresAvailable(): boolean {
  return inject('pgTemplate') !== null;
}

export async function createTestDatabase(options: { target?: 'postgres' | 'pglite' } = {}): Promise<TestDatabase> {
  const pg = inject('pgTemplate');
  const target = options.target ?? (pg === null ? 'pglite' : 'postgres');
  if (target === 'pglite') {
    const db = await openDatabase({});
    try {
      await migrate(db, { dir: MIGRATIONS_DIR });
    } catch (error) {
      await db.close();
      throw error;
    }
    return { db, url: null, target: 'pglite', drop: () => db.close() };
  }
  if (pg === null) throw new Error('createTestDatabase: PostgreSQL was asked for, but global-setup found none');

  // Creation time in the name lets global-setup tell a crashed run's leftovers from a live run's.
  const name = `taas_t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await onAdmin(pg.adminUrl, `CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(pg.template)}`);
  const url = databaseUrl(pg.adminUrl, name);
  const db = await openDatabase({ url });
  return {
    db,
    url,
    target: 'postgres',
    async drop() {
      await db.close();
      await onAdmin(pg.adminUrl, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
    },
  };
}

async function onAdmin(adminUrl: string, sql: string): Promise<void> {
  const admin = await openDatabase({ url: adminUrl, maxConnections: 1 });
  try {
    await admin.query(sql);
  } finally {
    await admin.close();
  }
}
