// The audit hash chain finds what a superuser can still do: each tamper runs as an attacker who
// has switched every trigger off, inside a transaction that is rolled back afterwards, and the
// verifier (paging 3 rows at a time) must name the first broken seq and why.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../control-plane/audit-verify.ts';
import type { Database, Queryable } from '../../control-plane/db.ts';
import { appendAuditRows, bypassProtection, chainHead, withRollback } from '../support/audit.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';
import { postgresAvailable } from '../support/db.ts';

const targets = [...(postgresAvailable() ? (['postgres'] as const) : []), 'pglite'] as const;
const PAGE = { pageSize: 3 };

/** Moves the row at `from` to `to` (free) without tripping the unique and positive checks on seq. */
async function moveSeq(conn: Queryable, from: number, to: number): Promise<void> {
  await conn.query('UPDATE audit_log SET seq = $2 WHERE seq = $1', [from, to]);
}

describe.each(targets)('audit hash chain on %s', (target) => {
  let h: Harness;
  let db: Database;

  beforeAll(async () => {
    h = await createHarness(target);
    db = h.testDb.db;
    await appendAuditRows(db, 9);
  }, 60_000);
  afterAll(() => h?.close());

  /** Tampers as a superuser would, verifies inside the same transaction, then rolls it all back. */
  const tamperAndVerify = (tamper: (conn: Queryable) => Promise<void>, options: Parameters<typeof verifyAuditChain>[1] = PAGE) =>
    withRollback(db, async (conn) => {
      await bypassProtection(conn);
      await tamper(conn);
      return verifyAuditChain(conn, options);
    });

  it('verifies an untouched chain and reports its last row as the head', async () => {
    const total = Number((await db.query('SELECT count(*) AS n FROM audit_log')).rows[0]!.n);
    const report = await verifyAuditChain(db, PAGE);
    expect(report).toEqual({ ok: true, rows: total, head: await chainHead(db) });
    expect(report.ok && report.head.seq).toBe(String(total));
  });

  it('reports a row whose content was changed as changed, at its seq', async () => {
    const report = await tamperAndVerify((conn) => conn.query(`UPDATE audit_log SET after = '{"n": 999}' WHERE seq = 5`).then(() => {}));
    expect(report).toMatchObject({ ok: false, problem: 'changed', seq: '5', rowsChecked: 4 });
  });

  it('reports a deleted middle row as removed, at its seq', async () => {
    const report = await tamperAndVerify((conn) => conn.query('DELETE FROM audit_log WHERE seq = 6').then(() => {}));
    expect(report).toMatchObject({ ok: false, problem: 'removed', seq: '6' });
  });

  it('reports a deleted row as removed even when the rows after it were renumbered to close the gap', async () => {
    const report = await tamperAndVerify(async (conn) => {
      await conn.query('DELETE FROM audit_log WHERE seq = 6');
      const last = Number((await chainHead(conn)).seq);
      for (let seq = 7; seq <= last; seq++) await moveSeq(conn, seq, seq - 1);
    });
    expect(report).toMatchObject({ ok: false, problem: 'removed', seq: '6' });
    expect(report.ok || report.detail).toMatch(/matches no row/);
  });

  it('reports two whole rows that swapped places as reordered', async () => {
    const report = await tamperAndVerify(async (conn) => {
      await moveSeq(conn, 3, 1_000_003);
      await moveSeq(conn, 7, 3);
      await moveSeq(conn, 1_000_003, 7);
    });
    expect(report).toMatchObject({ ok: false, problem: 'reordered', seq: '3' });
    expect(report.ok || report.detail).toMatch(/hash of seq 6, not of seq 2/);
  });

  it('reports two rows whose contents were swapped as changed, at the first of them', async () => {
    const report = await tamperAndVerify((conn) =>
      conn.query(
        `UPDATE audit_log a SET target_id = b.target_id, after = b.after
           FROM audit_log b WHERE (a.seq, b.seq) IN ((4, 8), (8, 4))`,
      ).then(() => {}),
    );
    expect(report).toMatchObject({ ok: false, problem: 'changed', seq: '4' });
  });

  it('reports a forged row that claims a seq already taken as inserted', async () => {
    const report = await tamperAndVerify(async (conn) => {
      await conn.query('ALTER TABLE audit_log DROP CONSTRAINT audit_log_seq_key');
      // A copy of row 4 with other content: ids come later, so it sorts right after the real one.
      await conn.query(
        `INSERT INTO audit_log (action, target_type, target_id, seq, prev_hash, row_hash)
         SELECT 'forged', target_type, target_id, seq, prev_hash, row_hash FROM audit_log WHERE seq = 4`,
      );
    });
    expect(report).toMatchObject({ ok: false, problem: 'inserted', seq: '4' });
  });

  it('cannot tell a cut-off tail from a shorter log, but the head recorded earlier can', async () => {
    const recorded = await chainHead(db);
    const cut = (conn: Queryable) => conn.query('DELETE FROM audit_log WHERE seq > $1', [Number(recorded.seq) - 2]).then(() => {});
    expect(await tamperAndVerify(cut)).toMatchObject({ ok: true });
    expect(await tamperAndVerify(cut, { ...PAGE, expectHead: recorded })).toMatchObject({ ok: false, problem: 'removed', seq: recorded.seq });
  });

  it('cannot see a history rewritten and re-hashed from scratch, but the head recorded earlier can', async () => {
    const recorded = await chainHead(db);
    const rewrite = async (conn: Queryable) => {
      await conn.query(`UPDATE audit_log SET action = 'rewritten' WHERE seq = 3`);
      for (let seq = 3; seq <= Number(recorded.seq); seq++) {
        await conn.query('UPDATE audit_log a SET prev_hash = p.row_hash FROM audit_log p WHERE a.seq = $1 AND p.seq = $1 - 1', [seq]);
        await conn.query('UPDATE audit_log a SET row_hash = audit_row_hash(a) WHERE a.seq = $1', [seq]);
      }
    };
    expect(await tamperAndVerify(rewrite)).toMatchObject({ ok: true });
    expect(await tamperAndVerify(rewrite, { ...PAGE, expectHead: recorded })).toMatchObject({ ok: false, problem: 'changed', seq: recorded.seq });
    expect(await verifyAuditChain(db, { expectHead: recorded })).toMatchObject({ ok: true });
  });

  it.skipIf(target === 'pglite')('chains rows appended by concurrent transactions on several connections into one line', async () => {
    const before = Number((await chainHead(db)).seq);
    // Each transaction appends, waits, appends again: without the chain lock two would extend the
    // same head and the second would fail on the unique seq, or the links would fork.
    const writers = Array.from({ length: 6 }, (_, w) =>
      db.transaction(async (tx) => {
        for (let i = 0; i < 3; i++) {
          await appendAuditRows(tx, 1, { action: `concurrent.${w}` });
          await new Promise((resolve) => setTimeout(resolve, 5 + ((w * 7 + i) % 4) * 5));
        }
      }),
    );
    await Promise.all(writers);
    const seqs = (await db.query<{ seq: string }>('SELECT a.seq::text FROM audit_log a WHERE a.seq > $1 ORDER BY a.seq', [before])).rows.map((r) => Number(r.seq));
    expect(seqs).toEqual(Array.from({ length: 18 }, (_, i) => before + 1 + i));
    expect(await verifyAuditChain(db, PAGE)).toMatchObject({ ok: true, rows: before + 18 });
  });
});
