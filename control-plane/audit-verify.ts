// Checks the audit log's hash chain (migrations/0004_audit_chain.sql): walks it in seq order a
// page at a time, re-hashes every row with the database's own audit_row_hash, and names the
// first break. A chain that verifies proves nothing about a cut-off tail, or about a history
// rewritten and re-hashed from scratch; a head recorded earlier and kept outside the database
// (`expectHead`) does.

import type { Queryable } from './db.ts';
import { chainPage, rowHashAt, seqOfRowHash, type ChainRow } from './sql/audit.ts';

/** prev_hash of the first row; also the head of an empty log (seq 0). */
export const GENESIS_HASH = '00'.repeat(32);

export interface ChainHead {
  seq: string;
  /** row_hash of that row, lowercase hex. */
  hash: string;
}

/**
 * changed: a row's content no longer matches its hash. removed: a gap in seq, or a row whose
 * predecessor is nowhere to be found. reordered: a row whose predecessor sits elsewhere.
 * inserted: a second row claims a seq already seen.
 */
export type ChainProblem = 'changed' | 'removed' | 'reordered' | 'inserted';

export type ChainReport =
  | { ok: true; rows: number; head: ChainHead }
  | { ok: false; problem: ChainProblem; seq: string; detail: string; rowsChecked: number };

type Break = { problem: ChainProblem; seq: string; detail: string };

export function parseHead(text: string): ChainHead | null {
  const match = /^(\d{1,18}):([0-9a-fA-F]{64})$/.exec(text.trim());
  return match ? { seq: BigInt(match[1]!).toString(), hash: match[2]!.toLowerCase() } : null;
}

export function formatHead(head: ChainHead): string {
  return `${head.seq}:${head.hash}`;
}

export async function verifyAuditChain(db: Queryable, options: { expectHead?: ChainHead; pageSize?: number } = {}): Promise<ChainReport> {
  const pageSize = options.pageSize ?? 1000;
  let last: ChainHead = { seq: '0', hash: GENESIS_HASH };
  let cursor = { seq: '0', id: '0' };
  let rows = 0;
  for (;;) {
    const page = await chainPage(db, { after: cursor, limit: pageSize });
    for (const row of page) {
      const broken = await checkLink(db, last, row);
      if (broken) return { ok: false, ...broken, rowsChecked: rows };
      last = { seq: row.seq, hash: row.row_hash };
      rows++;
    }
    if (page.length < pageSize) break;
    cursor = { seq: page[page.length - 1]!.seq, id: page[page.length - 1]!.id };
  }
  const checkpoint = options.expectHead ? await checkCheckpoint(db, options.expectHead) : null;
  if (checkpoint) return { ok: false, ...checkpoint, rowsChecked: rows };
  return { ok: true, rows, head: last };
}

/** Whether `row` correctly follows `previous`, the last row that verified. */
async function checkLink(db: Queryable, previous: ChainHead, row: ChainRow): Promise<Break | null> {
  const expected = BigInt(previous.seq) + 1n;
  const seq = BigInt(row.seq);
  if (seq < expected) {
    return { problem: 'inserted', seq: row.seq, detail: `a second row (id ${row.id}) claims seq ${row.seq}` };
  }
  if (seq > expected) {
    const missing = seq - expected === 1n ? `seq ${expected} is` : `seqs ${expected}–${seq - 1n} are`;
    return { problem: 'removed', seq: expected.toString(), detail: `${missing} missing (the next row present is seq ${row.seq})` };
  }
  if (!row.intact) {
    return { problem: 'changed', seq: row.seq, detail: 'its content no longer matches its row_hash' };
  }
  if (row.prev_hash !== previous.hash) {
    const holder = await seqOfRowHash(db, row.prev_hash);
    return holder === null
      ? { problem: 'removed', seq: row.seq, detail: `its prev_hash matches no row: the row before it was removed (later ones renumbered), or rewritten and re-hashed` }
      : { problem: 'reordered', seq: row.seq, detail: `its prev_hash is the hash of seq ${holder}, not of seq ${previous.seq}: rows were moved` };
  }
  return null;
}

/** The recorded head must still be in the chain, unchanged: catches a cut tail and a full re-hash. */
async function checkCheckpoint(db: Queryable, head: ChainHead): Promise<Break | null> {
  const hash = head.seq === '0' ? GENESIS_HASH : await rowHashAt(db, head.seq);
  if (hash === null) {
    return { problem: 'removed', seq: head.seq, detail: `the checkpoint row seq ${head.seq} is gone: the end of the log was cut off` };
  }
  if (hash !== head.hash) {
    return { problem: 'changed', seq: head.seq, detail: `seq ${head.seq} now hashes to ${hash}, the checkpoint says ${head.hash}: history up to it was rewritten and re-hashed` };
  }
  return null;
}
