import { createHash } from 'node:crypto';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../control-plane/db.ts';
import { migrate, MigrationError } from '../../control-plane/migrate.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';
import { MIGRATIONS_DIR } from '../support/global-setup.ts';

const targets = postgresAvailable() ? (['postgres', 'pglite'] as const) : (['pglite'] as const);

async function tables(db: Database): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
  return rows.map((row) => row.name);
}

async function history(db: Database): Promise<{ name: string; checksum: string }[]> {
  const { rows } = await db.query<{ name: string; checksum: string }>('SELECT name, checksum FROM schema_migrations ORDER BY name');
  return rows;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

describe.each(targets)('migrate on %s', (target) => {
  let test: TestDatabase;
  let db: Database;
  let dir: string;

  async function write(name: string, sql: string): Promise<void> {
    await writeFile(join(dir, name), sql);
  }

  beforeAll(async () => {
    test = await createTestDatabase({ target });
    db = test.db;
  });
  afterAll(async () => {
    await test?.drop();
  });
  beforeEach(async () => {
    // One database per file; each test starts from an empty public schema and its own files.
    await db.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    dir = await mkdtemp(join(tmpdir(), 'taas-migrations-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('applies every file in name order on an empty database and records each checksum', async () => {
    const first = 'CREATE TABLE widgets (id int PRIMARY KEY);';
    await write('0001_widgets.sql', first);
    // 0002 depends on 0001 and 0010 on 0002: any other order fails.
    await write('0010_widget_colour_index.sql', 'CREATE INDEX widgets_colour_idx ON widgets (colour);');
    await write('0002_widget_colour.sql', "ALTER TABLE widgets ADD COLUMN colour text NOT NULL DEFAULT 'red';\nINSERT INTO widgets (id) VALUES (1);");
    await write('README.md', 'not a migration');

    const result = await migrate(db, { dir });

    expect(result.applied).toEqual(['0001_widgets.sql', '0002_widget_colour.sql', '0010_widget_colour_index.sql']);
    expect(await tables(db)).toEqual(['schema_migrations', 'widgets']);
    expect((await history(db))[0]).toEqual({ name: '0001_widgets.sql', checksum: sha256(first) });
    expect((await db.query('SELECT id, colour FROM widgets')).rows).toEqual([{ id: 1, colour: 'red' }]);
  });

  it('does nothing when run again, and later applies only the files added since', async () => {
    await write('0001_widgets.sql', 'CREATE TABLE widgets (id int PRIMARY KEY);');
    await migrate(db, { dir });
    const before = await db.query('SELECT name, applied_at FROM schema_migrations');

    expect(await migrate(db, { dir })).toEqual({ applied: [] });
    expect((await db.query('SELECT name, applied_at FROM schema_migrations')).rows).toEqual(before.rows);

    await write('0002_gadgets.sql', 'CREATE TABLE gadgets (id int PRIMARY KEY);');
    expect(await migrate(db, { dir })).toEqual({ applied: ['0002_gadgets.sql'] });
  });

  it('refuses to run when an applied file was edited, names it, and changes nothing', async () => {
    await write('0001_widgets.sql', 'CREATE TABLE widgets (id int PRIMARY KEY);');
    await migrate(db, { dir });
    await write('0001_widgets.sql', 'CREATE TABLE widgets (id bigint PRIMARY KEY);');
    await write('0002_gadgets.sql', 'CREATE TABLE gadgets (id int PRIMARY KEY);');

    const error = await migrate(db, { dir }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MigrationError);
    expect(error).toMatchObject({ failure: 'edited', file: '0001_widgets.sql' });
    expect((error as Error).message).toMatch(/0001_widgets\.sql was edited after it was applied/);
    expect(await tables(db)).toEqual(['schema_migrations', 'widgets']);
    expect((await history(db)).map((row) => row.name)).toEqual(['0001_widgets.sql']);
  });

  it('refuses to run when an applied file is missing', async () => {
    await write('0001_widgets.sql', 'CREATE TABLE widgets (id int PRIMARY KEY);');
    await migrate(db, { dir });
    await unlink(join(dir, '0001_widgets.sql'));
    await write('0002_gadgets.sql', 'CREATE TABLE gadgets (id int PRIMARY KEY);');

    await expect(migrate(db, { dir })).rejects.toMatchObject({ name: 'MigrationError', failure: 'missing', file: '0001_widgets.sql' });
    expect(await tables(db)).toEqual(['schema_migrations', 'widgets']);
  });

  it('rolls a failing migration back whole: no partial schema, no history row, nothing after it', async () => {
    await write('0001_widgets.sql', 'CREATE TABLE widgets (id int PRIMARY KEY);');
    await write('0002_broken.sql', 'CREATE TABLE gadgets (id int PRIMARY KEY);\nINSERT INTO widgets VALUES (1);\nSELECT 1 / 0;');
    await write('0003_after.sql', 'CREATE TABLE after_broken (id int);');

    const error = await migrate(db, { dir }).catch((e: unknown) => e);

    expect(error).toMatchObject({ name: 'MigrationError', failure: 'failed', file: '0002_broken.sql' });
    expect((error as Error).message).toMatch(/0002_broken\.sql failed.*division by zero/);
    expect(await tables(db)).toEqual(['schema_migrations', 'widgets']);
    expect((await history(db)).map((row) => row.name)).toEqual(['0001_widgets.sql']);
    expect((await db.query('SELECT count(*)::int AS n FROM widgets')).rows).toEqual([{ n: 0 }]);
    // The lock was released and the connection is healthy: a fixed file goes through.
    await write('0002_broken.sql', 'CREATE TABLE gadgets (id int PRIMARY KEY);');
    expect(await migrate(db, { dir })).toEqual({ applied: ['0002_broken.sql', '0003_after.sql'] });
  });

  it('refuses a .sql file not named NNNN_name.sql', async () => {
    await write('0001_widgets.sql', 'CREATE TABLE widgets (id int PRIMARY KEY);');
    await write('2-gadgets.sql', 'CREATE TABLE gadgets (id int PRIMARY KEY);');
    await expect(migrate(db, { dir })).rejects.toMatchObject({ failure: 'misnamed', file: '2-gadgets.sql' });
    expect(await tables(db)).toEqual([]);
  });

  it('lets two runners started at once both succeed, applying each file exactly once', async () => {
    // Without the lock both would run 0001 (CREATE TABLE fails the second time) while it sleeps.
    await write('0001_slow.sql', 'CREATE TABLE widgets (id int PRIMARY KEY);\nSELECT pg_sleep(0.3);');
    await write('0002_gadgets.sql', 'CREATE TABLE gadgets (id int PRIMARY KEY);');
    // On PostgreSQL: a second pool, so two sessions contend. PGlite has one session; there the
    // two runners share one Database and its single connection.
    const other = test.url === null ? db : await openDatabase({ url: test.url });
    try {
      const [a, b] = await Promise.all([migrate(db, { dir }), migrate(other, { dir })]);
      expect([...a.applied, ...b.applied].sort()).toEqual(['0001_slow.sql', '0002_gadgets.sql']);
      expect([a.applied.length, b.applied.length].sort()).toEqual([0, 2]);
      expect((await history(db)).map((row) => row.name)).toEqual(['0001_slow.sql', '0002_gadgets.sql']);
    } finally {
      if (other !== db) await other.close();
    }
  });

  it('applies the real migrations, and audit_log then refuses UPDATE, DELETE and TRUNCATE', async () => {
    const { applied } = await migrate(db, { dir: MIGRATIONS_DIR });
    expect(applied[0]).toBe('0001_init.sql');
    expect(await tables(db)).toContain('audit_log');
    await db.query("INSERT INTO audit_log (action, target_type, target_id) VALUES ('org.create', 'org', 'o1')");

    await expect(db.query("UPDATE audit_log SET action = 'x'")).rejects.toThrow(/append-only: UPDATE/);
    await expect(db.query('DELETE FROM audit_log')).rejects.toThrow(/append-only: DELETE/);
    await expect(db.query('TRUNCATE audit_log')).rejects.toThrow(/append-only: TRUNCATE/);
    expect((await db.query('SELECT action FROM audit_log')).rows).toEqual([{ action: 'org.create' }]);
  });
});
