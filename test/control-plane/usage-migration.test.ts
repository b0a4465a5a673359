// Migration 0011 on a database that already holds usage rows: every row is kept (in its month's
// partition), a 2xx row that found no price is flagged unpriced, and the daily rollup starts out
// equal to the rows. On PostgreSQL and PGlite.

import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate } from '../../control-plane/migrate.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';
import { MIGRATIONS_DIR } from '../support/global-setup.ts';

const targets = [...(postgresAvailable() ? (['postgres'] as const) : []), 'pglite'] as const;
const ORG = '0190a000-0000-7000-8000-000000000001';
const KEY = '0190a000-0000-7000-8000-000000000002';

describe.each(targets)('migration 0011 on %s', (target) => {
  let test: TestDatabase;
  let dir: string;

  beforeEach(async () => {
    test = await createTestDatabase({ target });
    await test.db.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    dir = await mkdtemp(join(tmpdir(), 'taas-usage-migration-'));
    for (const name of (await readdir(MIGRATIONS_DIR)).filter((n) => /^\d{4}_.*\.sql$/.test(n) && n < '0011')) {
      await copyFile(join(MIGRATIONS_DIR, name), join(dir, name));
    }
  });
  afterEach(async () => {
    await test.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every row in its month, flags the unpriced ones and rolls them up', async () => {
    const db = test.db;
    await migrate(db, { dir });
    await db.query(`INSERT INTO orgs (id, name) VALUES ('${ORG}', 'o')`);
    await db.query(`INSERT INTO api_keys (id, org_id, name, key_hash, prefix) VALUES ('${KEY}', '${ORG}', 'k', repeat('a', 64), 'taas_x')`);
    await db.query("INSERT INTO edge_nodes (id, public_key_jwk) VALUES ('n1', '{}')");
    await db.query("INSERT INTO models (id, owned_by) VALUES ('priced', 'x'), ('later', 'x')");
    await db.query(
      "INSERT INTO model_prices (model_id, effective_from, input_per_mtok, output_per_mtok) VALUES ('priced', '2025-01-01Z', 1000000, 2000000), ('later', '2025-04-01Z', 1, 1)",
    );
    const row = (n: number, model: string, status: number, cost: number, at: string, audio = 0) =>
      `('0190a000-0000-7000-8000-00000000010${n}', 'req_${n}', '${KEY}', '${ORG}', 'n1', '${model}', '/v1/x', ${status}, 10, 5, ${n % 2 === 0}, ${cost}, 7, '${at}', ${audio})`;
    await db.query(
      `INSERT INTO usage_events (id, request_id, key_id, org_id, node_id, model, endpoint, status, input_tokens, output_tokens, estimated, cost_micros, latency_ms, started_at, audio_seconds)
       VALUES ${[
         row(1, 'priced', 200, 20, '2025-03-31T23:30:00Z'),
         row(2, 'priced', 200, 20, '2025-04-01T00:30:00Z', 1.5),
         row(3, 'later', 200, 0, '2025-03-15T00:00:00Z'), // before its model's first price: unpriced
         row(4, 'later', 500, 0, '2025-03-15T00:00:00Z'), // failed: free, not unpriced
         row(5, 'later', 200, 0, '2025-04-02T00:00:00Z'), // priced (at 0 µUSD after rounding)
       ].join(', ')}`,
    );
    const before = (await db.query('SELECT id, request_id, cost_micros::text, started_at, audio_seconds::text FROM usage_events ORDER BY id')).rows;

    await copyFile(join(MIGRATIONS_DIR, '0011_usage_rollups.sql'), join(dir, '0011_usage_rollups.sql'));
    expect((await migrate(db, { dir })).applied).toEqual(['0011_usage_rollups.sql']);

    const after = await db.query('SELECT id, request_id, cost_micros::text, started_at, audio_seconds::text, unpriced, tableoid::regclass::text AS p FROM usage_events ORDER BY id');
    expect(after.rows.map(({ unpriced: _u, p: _p, ...rest }) => rest)).toEqual(before);
    expect(after.rows.map((r) => [r.request_id, r.unpriced, r.p])).toEqual([
      ['req_1', false, 'usage_events_2025_03'],
      ['req_2', false, 'usage_events_2025_04'],
      ['req_3', true, 'usage_events_2025_03'],
      ['req_4', false, 'usage_events_2025_03'],
      ['req_5', false, 'usage_events_2025_04'],
    ]);
    const daily = await db.query(
      `SELECT day::text, model, requests::int, errors::int, cost_micros::int, estimated_requests::int, unpriced_requests::int, audio_seconds::text
         FROM usage_daily ORDER BY day, model`,
    );
    expect(daily.rows).toEqual([
      { day: '2025-03-15', model: 'later', requests: 2, errors: 1, cost_micros: 0, estimated_requests: 1, unpriced_requests: 1, audio_seconds: '0.000' },
      { day: '2025-03-31', model: 'priced', requests: 1, errors: 0, cost_micros: 20, estimated_requests: 0, unpriced_requests: 0, audio_seconds: '0.000' },
      { day: '2025-04-01', model: 'priced', requests: 1, errors: 0, cost_micros: 20, estimated_requests: 1, unpriced_requests: 0, audio_seconds: '1.500' },
      { day: '2025-04-02', model: 'later', requests: 1, errors: 0, cost_micros: 0, estimated_requests: 0, unpriced_requests: 0, audio_seconds: '0.000' },
    ]);
    expect((await db.query("SELECT to_regclass('usage_events_old') AS t")).rows[0]!.t).toBeNull();
    // The old id-only key is gone, (id, started_at) is the key now; the same id at its same time is refused.
    await expect(
      db.query(`INSERT INTO usage_events (id, request_id, key_id, org_id, node_id, model, endpoint, status, input_tokens, output_tokens, estimated, cost_micros, latency_ms, started_at)
                SELECT id, request_id, key_id, org_id, node_id, model, endpoint, status, input_tokens, output_tokens, estimated, cost_micros, latency_ms, started_at
                  FROM usage_events WHERE request_id = 'req_1'`),
    ).rejects.toThrow(/duplicate key/);
  });
});
