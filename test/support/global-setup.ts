// Vitest globalSetup: prepares a migrated template database on the local PostgreSQL, so each test
// file can clone its own database from it; without a reachable PostgreSQL, tests use PGlite.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { openDatabase, type Database } from '../../control-plane/db.ts';
import { migrate } from '../../control-plane/migrate.ts';

export interface PgTemplate {
  /** A URL on the server's maintenance database, for CREATE/DROP DATABASE. */
  adminUrl: string;
  template: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** null → no PostgreSQL reachable: tests use embedded PGlite. */
    pgTemplate: PgTemplate | null;
  }
}

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));
const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
/** Test databases are named `taas_t_<base36 creation ms>_<random>`; older than this they are leftovers. */
const LEFTOVER_AGE_MS = 60 * 60 * 1000;
// Serialises template creation between the projects (node, e2e) whose globalSetups run at once.
const TEMPLATE_LOCK_KEY = '8386091129525331827';

export default async function setup(project: TestProject): Promise<void> {
  const adminUrl = process.env.TEST_DATABASE_URL || DEFAULT_ADMIN_URL;
  const admin = await openAdmin(adminUrl);
  if (admin === null) {
    console.log(`tests use embedded PGlite (no PostgreSQL at ${new URL(adminUrl).host})`);
    project.provide('pgTemplate', null);
    return;
  }
  try {
    await dropLeftovers(admin);
    const template = `taas_tpl_${(await migrationsChecksum()).slice(0, 12)}`;
    await ensureTemplate(admin, adminUrl, template);
    project.provide('pgTemplate', { adminUrl, template });
  } finally {
    await admin.close();
  }
}

async function openAdmin(adminUrl: string): Promise<Database | null> {
  const url = new URL(adminUrl);
  if (!(await tcpReachable(url.hostname, Number(url.port || 5432)))) return null;
  const admin = await openDatabase({ url: adminUrl, maxConnections: 1, onError: () => {} });
  try {
    await admin.query('SELECT 1');
    return admin;
  } catch {
    await admin.close();
    return null;
  }
}

function tcpReachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1_000 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

/** sha256 over every migration's name and bytes: a changed, added or removed file means a new template. */
async function migrationsChecksum(): Promise<string> {
  const hash = createHash('sha256');
  for (const name of (await readdir(MIGRATIONS_DIR)).filter((n) => n.endsWith('.sql')).sort()) {
    hash.update(`${name}\0`).update(await readFile(join(MIGRATIONS_DIR, name))).update('\0');
  }
  return hash.digest('hex');
}

async function ensureTemplate(admin: Database, adminUrl: string, template: string): Promise<void> {
  await admin.withConnection(async (conn) => {
    await conn.query(`SELECT pg_advisory_lock(${TEMPLATE_LOCK_KEY})`);
    try {
      const exists = await conn.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
      if (exists.rowCount > 0) return;
      // Built under another name and renamed when complete: a crash mid-way never leaves a
      // half-migrated database under the name later runs trust.
      const building = `${template}_build`;
      await conn.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`);
      await conn.query(`CREATE DATABASE ${building}`);
      const db = await openDatabase({ url: databaseUrl(adminUrl, building), maxConnections: 1 });
      try {
        await migrate(db, { dir: MIGRATIONS_DIR });
      } finally {
        await db.close();
      }
      await conn.query(`ALTER DATABASE ${building} RENAME TO ${template}`);
    } finally {
      await conn.query(`SELECT pg_advisory_unlock(${TEMPLATE_LOCK_KEY})`);
    }
  });
}

/** Drops test databases a crashed run left behind; young ones may belong to a run in progress. */
async function dropLeftovers(admin: Database): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'taas\\_t\\_%'");
  for (const { datname } of rows) {
    const createdMs = parseInt(/^taas_t_([0-9a-z]+)_/.exec(datname)?.[1] ?? '', 36);
    if (Number.isFinite(createdMs) && Date.now() - createdMs > LEFTOVER_AGE_MS) {
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(datname)} WITH (FORCE)`);
    }
  }
}

export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
