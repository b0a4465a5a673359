// The audit log cannot be changed from inside the database by the application role (privileges),
// by the table owner (ENABLE ALWAYS triggers), nor by DDL that would switch either off (event
// triggers) — on PostgreSQL and again on PGlite, which runs the same migration as superuser.

import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createControlPlaneApp } from '../../control-plane/app.ts';
import { openDatabase, type Database } from '../../control-plane/db.ts';
import { silentLogger } from '../../control-plane/log.ts';
import { createManifestPublisher } from '../../control-plane/manifest/publisher.ts';
import { appendAuditRows, asAppRole, withRollback } from '../support/audit.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';
import { postgresAvailable } from '../support/db.ts';

const targets = [...(postgresAvailable() ? (['postgres'] as const) : []), 'pglite'] as const;

// Each must be refused; each would otherwise weaken the log's protection in its own way.
const FORBIDDEN_DDL: [string, string][] = [
  ['disables a trigger', 'ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete'],
  ['disables every user trigger', 'ALTER TABLE audit_log DISABLE TRIGGER USER'],
  ['demotes a trigger from ALWAYS (replica mode would skip it)', 'ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_truncate'],
  ['drops a trigger', 'DROP TRIGGER audit_log_no_update_delete ON audit_log'],
  ['makes a trigger conditional', 'CREATE OR REPLACE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW WHEN (false) EXECUTE FUNCTION audit_log_reject_change()'],
  ['adds a trigger that could swallow inserts', 'CREATE TRIGGER zz_swallow BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_reject_change()'],
  ['adds a rule that turns inserts into nothing', 'CREATE RULE swallow AS ON INSERT TO audit_log DO INSTEAD NOTHING'],
  ['replaces the reject function with a no-op', "CREATE OR REPLACE FUNCTION audit_log_reject_change() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'"],
  ['drops the hash function', 'DROP FUNCTION audit_row_hash(audit_log) CASCADE'],
  ['drops the table', 'DROP TABLE audit_log CASCADE'],
  ['renames the table away', 'ALTER TABLE audit_log RENAME TO audit_log_old'],
  ['grants UPDATE to the application role', 'GRANT UPDATE ON audit_log TO taas_app'],
  ['turns on row security, which could hide rows', 'ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY'],
  ['makes the table unlogged, so a crash would empty it', 'ALTER TABLE audit_log SET UNLOGGED'],
  ['adds rows through inheritance', 'CREATE TABLE forged_audit () INHERITS (audit_log)'],
];

describe.each(targets)('audit log immutability on %s', (target) => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness(target);
    await appendAuditRows(h.testDb.db, 3);
  }, 60_000);
  afterAll(() => h?.close());

  const count = async () => Number((await h.testDb.db.query<{ n: string }>('SELECT count(*) AS n FROM audit_log')).rows[0]!.n);

  it('refuses UPDATE, DELETE and TRUNCATE to the application role by privilege, before any trigger runs', async () => {
    const before = await count();
    await asAppRole(h.testDb.db, async (conn) => {
      expect((await conn.query('SELECT current_user AS u')).rows[0]!.u).toBe('taas_app');
      for (const sql of ["UPDATE audit_log SET action = 'forged'", 'DELETE FROM audit_log', 'TRUNCATE audit_log']) {
        // "permission denied", not the trigger's "append-only": the privilege check came first.
        await expect(conn.query(sql), sql).rejects.toThrow(/permission denied for table audit_log/);
      }
    });
    expect(await count()).toBe(before);
  });

  it('lets the application role append rows, which the database chains', async () => {
    const inserted = await asAppRole(h.testDb.db, (conn) =>
      conn.query<{ seq: string; ok: boolean }>(
        "INSERT INTO audit_log (action, target_type, target_id) VALUES ('app.append', 't', '1') RETURNING seq::text, audit_row_hash(audit_log) = row_hash AS ok",
      ),
    );
    expect(inserted.rows[0]!.ok).toBe(true);
    expect(Number(inserted.rows[0]!.seq)).toBe(await count());
  });

  it('refuses UPDATE, DELETE and TRUNCATE to the owner and superuser, even under session_replication_role = replica', async () => {
    const before = await count();
    await h.testDb.db.withConnection(async (conn) => {
      expect((await conn.query<{ s: boolean }>('SELECT rolsuper AS s FROM pg_roles WHERE rolname = current_user')).rows[0]!.s).toBe(true);
      // Replica mode skips ordinary triggers; ENABLE ALWAYS ones still fire.
      await conn.query('SET session_replication_role = replica');
      try {
        await expect(conn.query("UPDATE audit_log SET action = 'forged'")).rejects.toThrow(/append-only: UPDATE/);
        await expect(conn.query('DELETE FROM audit_log')).rejects.toThrow(/append-only: DELETE/);
        await expect(conn.query('TRUNCATE audit_log')).rejects.toThrow(/append-only: TRUNCATE/);
      } finally {
        await conn.query('RESET session_replication_role');
      }
    });
    expect(await count()).toBe(before);
  });

  it.each(FORBIDDEN_DDL)('refuses DDL by the owner and superuser that %s', async (_what, sql) => {
    await withRollback(h.testDb.db, async (conn) => {
      await expect(conn.query(sql)).rejects.toThrow(/audit_log is protected/);
    });
    expect((await h.testDb.db.query('SELECT audit_log_protection_problem() AS p')).rows[0]!.p).toBeNull();
  });

  it('still lets a later migration add a nullable column, then give it a default', async () => {
    await withRollback(h.testDb.db, async (conn) => {
      await conn.query('ALTER TABLE audit_log ADD COLUMN note text');
      await conn.query("ALTER TABLE audit_log ALTER COLUMN note SET DEFAULT 'n/a'");
      const row = await conn.query("INSERT INTO audit_log (action, target_type, target_id) VALUES ('x', 't', '1') RETURNING note");
      expect(row.rows[0]!.note).toBe('n/a');
    });
  });

  it('gives the application role everything the control plane needs: the management API runs as taas_app', async () => {
    // PGlite has one session; on PostgreSQL a separate one-connection pool takes the role.
    const appDb: Database = h.testDb.url === null ? h.testDb.db : await openDatabase({ url: h.testDb.url, maxConnections: 1 });
    await appDb.query('SET ROLE taas_app');
    try {
      expect((await appDb.query('SELECT current_user AS u')).rows[0]!.u).toBe('taas_app');
      const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const manifest = createManifestPublisher({ db: appDb, signingKey: { kid: 'test', privateKey }, ttlSeconds: 600, nowSeconds: () => Math.floor(Date.now() / 1000) });
      const app = createControlPlaneApp({ db: appDb, manifest, now: () => new Date(), log: silentLogger });
      const call = (method: string, path: string, body?: unknown) =>
        app.request(path, {
          method,
          headers: { authorization: `Bearer ${h.ownerToken}`, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      const org = (await (await call('POST', '/v1/manage/orgs', { name: 'As app role' })).json()) as { id: string };
      const key = await call('POST', '/v1/manage/keys', { org_id: org.id, name: 'k' });
      expect(key.status).toBe(201);
      const revoked = await call('POST', `/v1/manage/keys/${((await key.json()) as { id: string }).id}/revoke`);
      expect(revoked.status).toBe(200);
      expect((await call('GET', `/v1/manage/audit?org_id=${org.id}`)).status).toBe(200);
      expect((await app.request('/node/v1/manifest', { headers: { authorization: await h.nodeAuthorization() } })).status).toBe(200);
    } finally {
      await appDb.query('RESET ROLE');
      if (appDb !== h.testDb.db) await appDb.close();
    }
  });
});
