// Migration 0004 on a database that already holds audit rows, and run by a non-superuser owner
// (production on a managed PostgreSQL): it must chain the old rows and never fail for lack of
// superuser rights — only leave out the event-trigger guard, with a NOTICE.

import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../control-plane/audit-verify.ts';
import { openDatabase, type Database } from '../../control-plane/db.ts';
import { migrate } from '../../control-plane/migrate.ts';
import { withRollback } from '../support/audit.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';
import { databaseUrl, MIGRATIONS_DIR } from '../support/global-setup.ts';

const targets = [...(postgresAvailable() ? (['postgres'] as const) : []), 'pglite'] as const;

describe.each(targets)('migration 0004 on %s', (target) => {
  let test: TestDatabase;
  let dir: string;
  let role: string | null = null;

  beforeEach(async () => {
    test = await createTestDatabase({ target });
    // An empty public schema (its guard goes with it), then only 0001 and later 0004.
    await test.db.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    dir = await mkdtemp(join(tmpdir(), 'taas-audit-migration-'));
    await copyFile(join(MIGRATIONS_DIR, '0001_init.sql'), join(dir, '0001_init.sql'));
  });
  afterEach(async () => {
    await test.drop();
    await rm(dir, { recursive: true, force: true });
    // Roles are cluster-wide: dropped once the database holding its objects is gone.
    if (role !== null && test.url !== null) {
      const admin = await openDatabase({ url: databaseUrl(test.url, 'postgres'), maxConnections: 1 });
      await admin.query(`DROP ROLE IF EXISTS ${role}`).finally(() => admin.close());
    }
    role = null;
  });

  const add0004 = () => copyFile(join(MIGRATIONS_DIR, '0004_audit_chain.sql'), join(dir, '0004_audit_chain.sql'));

  it('chains the rows 0001 already held in id order, keeping their times, and new rows after them', async () => {
    const db = test.db;
    await migrate(db, { dir });
    // Stored out of id order on purpose: id is the only order 0001 kept, so the chain follows it.
    await db.query(
      `INSERT INTO audit_log (id, at, action, target_type, target_id) OVERRIDING SYSTEM VALUE
       VALUES (3, '2024-01-03T00:00:00Z', 'c', 't', '3'), (1, '2024-01-01T00:00:00Z', 'a', 't', '1'), (2, '2024-01-02T00:00:00Z', 'b', 't', '2')`,
    );
    await db.query("SELECT setval(pg_get_serial_sequence('audit_log', 'id'), 3)");
    await add0004();
    expect((await migrate(db, { dir })).applied).toEqual(['0004_audit_chain.sql']);

    await db.query("INSERT INTO audit_log (action, target_type, target_id) VALUES ('d', 't', '4')");
    const rows = await db.query<{ id: string; seq: string; at: Date }>('SELECT a.id::text, a.seq::text, a.at FROM audit_log a ORDER BY a.seq');
    expect(rows.rows.map((r) => [r.seq, r.id])).toEqual([['1', '1'], ['2', '2'], ['3', '3'], ['4', '4']]);
    expect(rows.rows[0]!.at.toISOString()).toBe('2024-01-01T00:00:00.000Z');
    expect(await verifyAuditChain(db)).toMatchObject({ ok: true, rows: 4 });
  });

  it('runs for a non-superuser owner: no event-trigger guard, but privileges, triggers and chain in place', async () => {
    const owner = `taas_t_owner_${randomBytes(4).toString('hex')}`;
    await test.db.query(`CREATE ROLE ${owner} NOLOGIN`);
    role = owner;
    await test.db.query(`ALTER SCHEMA public OWNER TO ${owner}`);
    // One session, switched to the owner for the whole run (PGlite has only one anyway).
    const asOwner: Database = test.url === null ? test.db : await openDatabase({ url: test.url, maxConnections: 1 });
    try {
      await asOwner.query(`SET ROLE ${owner}`);
      await add0004();
      expect((await migrate(asOwner, { dir })).applied).toEqual(['0001_init.sql', '0004_audit_chain.sql']);

      expect((await asOwner.query("SELECT count(*)::int AS n FROM pg_event_trigger WHERE evtname LIKE 'audit_log%'")).rows[0]!.n).toBe(0);
      const grants = await asOwner.query<{ p: string }>(
        "SELECT privilege_type AS p FROM information_schema.role_table_grants WHERE grantee = 'taas_app' AND table_name = 'audit_log' ORDER BY 1",
      );
      expect(grants.rows.map((r) => r.p)).toEqual(['INSERT', 'SELECT']);
      await asOwner.query("INSERT INTO audit_log (action, target_type, target_id) VALUES ('a', 't', '1')");
      await expect(asOwner.query("UPDATE audit_log SET action = 'x'")).rejects.toThrow(/append-only/);
      // The residual risk without a superuser: the owner may switch its triggers off. The chain
      // still shows what was done with them off.
      const report = await withRollback(asOwner, async (conn) => {
        await conn.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete');
        await conn.query("UPDATE audit_log SET action = 'x'");
        return verifyAuditChain(conn);
      });
      expect(report).toMatchObject({ ok: false, problem: 'changed', seq: '1' });
    } finally {
      await asOwner.query('RESET ROLE');
      if (asOwner !== test.db) await asOwner.close();
    }
  });
});
