// The migration runner: applies `NNNN_name.sql` files in order, each once, each in its own
// transaction, and refuses to run when history was rewritten (an applied file edited or removed).
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database, Queryable } from './db.ts';

export type MigrationFailure = 'edited' | 'missing' | 'misnamed' | 'failed';

export class MigrationError extends Error {
  override name = 'MigrationError';
  readonly file: string;
  readonly failure: MigrationFailure;

  constructor(failure: MigrationFailure, file: string, message: string, options?: { cause: unknown }) {
    super(message, options);
    this.failure = failure;
    this.file = file;
  }
}

export interface MigrateOptions {
  /** Directory holding the `NNNN_name.sql` files. */
  dir: string;
}

// Any fixed key works as long as nothing else in the database uses it; this one is
// 'taasmigr' read as a big-endian int64. Session-level, so it spans the per-file transactions.
const LOCK_KEY = '8386091129525331826';
const FILE_NAME = /^\d{4}_[a-z0-9_]+\.sql$/;

interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

export async function migrate(db: Database, options: MigrateOptions): Promise<{ applied: string[] }> {
  const files = await readMigrations(options.dir);
  // Everything on one connection: the advisory lock is held by that session, and PGlite has only
  // one connection to give anyway.
  return db.withConnection(async (conn) => {
    await conn.query(`SELECT pg_advisory_lock(${LOCK_KEY})`);
    let applied: string[];
    try {
      applied = await applyPending(conn, files);
    } catch (error) {
      // Keep the original error; withConnection discards this connection, which on PostgreSQL
      // also drops the lock if this unlock cannot get through.
      await conn.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`).catch(() => {});
      throw error;
    }
    await conn.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`);
    return { applied };
  });
}

async function applyPending(conn: Queryable, files: MigrationFile[]): Promise<string[]> {
  await conn.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    name        text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
  )`);
  const done = await conn.query<{ name: string; checksum: string }>('SELECT name, checksum FROM schema_migrations ORDER BY name');
  const applied: string[] = [];
  for (const file of pendingFiles(files, done.rows)) {
    await apply(conn, file);
    applied.push(file.name);
  }
  return applied;
}

async function readMigrations(dir: string): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.sql')).sort();
  const files: MigrationFile[] = [];
  for (const name of names) {
    if (!FILE_NAME.test(name)) {
      throw new MigrationError('misnamed', name, `migration ${name} is not named NNNN_name.sql (lowercase, digits, underscores)`);
    }
    const bytes = await readFile(join(dir, name));
    files.push({ name, sql: bytes.toString('utf8'), checksum: createHash('sha256').update(bytes).digest('hex') });
  }
  return files;
}

/** Checks the applied history against the files before anything runs, then lists what is new. */
function pendingFiles(files: MigrationFile[], done: { name: string; checksum: string }[]): MigrationFile[] {
  const byName = new Map(files.map((file) => [file.name, file]));
  for (const row of done) {
    const file = byName.get(row.name);
    if (file === undefined) {
      throw new MigrationError('missing', row.name, `migration ${row.name} was applied but its file is missing; migrations are forward only`);
    }
    if (file.checksum !== row.checksum) {
      throw new MigrationError(
        'edited',
        row.name,
        `migration ${row.name} was edited after it was applied (checksum ${row.checksum.slice(0, 12)}… is now ${file.checksum.slice(0, 12)}…); add a new migration instead`,
      );
    }
  }
  const applied = new Set(done.map((row) => row.name));
  return files.filter((file) => !applied.has(file.name));
}

async function apply(conn: Queryable, file: MigrationFile): Promise<void> {
  await conn.query('BEGIN');
  try {
    // No parameters: the driver sends it as one simple-protocol query, so a file may hold many statements.
    await conn.query(file.sql);
    await conn.query('INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)', [file.name, file.checksum]);
    await conn.query('COMMIT');
  } catch (error) {
    await conn.query('ROLLBACK').catch(() => {});
    const detail = error instanceof Error ? error.message : String(error);
    throw new MigrationError('failed', file.name, `migration ${file.name} failed and was rolled back: ${detail}`, { cause: error });
  }
}
