// Production shape: the control plane connects as a login role in `taas_app` and migrates through
// the owner's URL (MIGRATION_DATABASE_URL). Everything works, and the audit log stays out of reach.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../control-plane/config.ts';
import { openDatabase } from '../../control-plane/db.ts';
import { silentLogger } from '../../control-plane/log.ts';
import { startControlPlane, type RunningControlPlane } from '../../control-plane/server.ts';
import { generateEd25519 } from '../../scripts/keys.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';

const APP_LOGIN = 'taas_gateway_test';

describe.skipIf(!postgresAvailable())('control plane as the application role', () => {
  let testDb: TestDatabase;
  let cp: RunningControlPlane;

  beforeAll(async () => {
    testDb = await createTestDatabase({ target: 'postgres' });
    // Roles are cluster-wide: create the login once, idempotently (another file may race us).
    await testDb.db.query(`DO $$ BEGIN
        CREATE ROLE ${APP_LOGIN} LOGIN IN ROLE taas_app;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`);
    const appUrl = new URL(testDb.url!);
    appUrl.username = APP_LOGIN;
    cp = await startControlPlane(
      loadConfig({
        DATABASE_URL: appUrl.toString(),
        MIGRATION_DATABASE_URL: testDb.url!,
        CP_PORT: '0',
        MANIFEST_SIGNING_KEY: JSON.stringify((await generateEd25519('app-role')).privateJwk),
      }),
      { log: silentLogger },
    );
  }, 60_000);
  afterAll(async () => {
    await cp?.close();
    await testDb?.drop();
  });

  it('bootstraps, creates an org and a key, and audits them while connected as taas_app', async () => {
    const who = await cp.db.query<{ current_user: string }>('SELECT current_user');
    expect(who.rows[0]!.current_user).toBe(APP_LOGIN);
    const call = async (path: string, body: unknown) =>
      fetch(`${cp.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${cp.bootstrapToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const org = (await (await call('/v1/manage/orgs', { name: 'App role org' })).json()) as { id: string };
    const key = await call('/v1/manage/keys', { org_id: org.id, name: 'as app role' });
    expect(key.status).toBe(201);
    const audit = await cp.db.query('SELECT count(*) AS n FROM audit_log');
    expect(Number(audit.rows[0]!.n)).toBeGreaterThanOrEqual(3);
  });

  it('cannot update, delete or truncate the audit log, nor run DDL', async () => {
    await expect(cp.db.query("UPDATE audit_log SET action = 'x'")).rejects.toThrow(/permission denied/);
    await expect(cp.db.query('DELETE FROM audit_log')).rejects.toThrow(/permission denied/);
    await expect(cp.db.query('TRUNCATE audit_log')).rejects.toThrow(/permission denied/);
    await expect(cp.db.query('CREATE TABLE sneaky (id int)')).rejects.toThrow(/permission denied/);
  });

  it('refuses to migrate as the application role itself', async () => {
    const appUrl = new URL(testDb.url!);
    appUrl.username = APP_LOGIN;
    const appDb = await openDatabase({ url: appUrl.toString(), maxConnections: 1 });
    try {
      await expect(appDb.query("INSERT INTO schema_migrations (name, checksum) VALUES ('9999_x.sql', 'x')")).rejects.toThrow(/permission denied/);
    } finally {
      await appDb.close();
    }
  });
});
