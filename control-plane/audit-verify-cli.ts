// `npm run audit:verify [-- --expect-head <seq:hash>]`: checks the audit log's hash chain in
// DATABASE_URL, or in the embedded PGlite data directory `npm start` uses (stop it first: PGlite
// is single-process). Prints the head to keep outside the database as the next checkpoint.
// Exit status: 0 intact, 1 broken, 2 could not check. A separate entry like migrate-cli.ts, so it
// reads its variables itself; it needs only SELECT on audit_log.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatHead, parseHead, verifyAuditChain, type ChainHead } from './audit-verify.ts';
import { openDatabase } from './db.ts';
import { DEFAULT_PGLITE_DATA_DIR } from './pglite.ts';

const USAGE = 'usage: npm run audit:verify [-- --expect-head <seq>:<sha256 hex>]';

function expectedHead(): ChainHead | undefined | 'invalid' {
  try {
    const { values } = parseArgs({ options: { 'expect-head': { type: 'string' } }, strict: true });
    const raw = values['expect-head'];
    if (raw === undefined) return undefined;
    return parseHead(raw) ?? 'invalid';
  } catch {
    return 'invalid';
  }
}

const expectHead = expectedHead();
if (expectHead === 'invalid') {
  console.error(USAGE);
  process.exit(2);
}

const root = fileURLToPath(new URL('../', import.meta.url));
const url = process.env.DATABASE_URL || undefined;
const pgliteDataDir = resolve(root, process.env.PGLITE_DATA_DIR || DEFAULT_PGLITE_DATA_DIR);

try {
  const db = await openDatabase(url === undefined ? { pgliteDataDir } : { url });
  try {
    const report = await verifyAuditChain(db, expectHead ? { expectHead } : {});
    if (report.ok) {
      console.log(`audit:verify: OK, ${report.rows} rows${expectHead ? `, checkpoint ${expectHead.seq} present and unchanged` : ''}`);
      console.log(`head ${formatHead(report.head)}`);
    } else {
      process.exitCode = 1;
      console.log(`audit:verify: BROKEN at seq ${report.seq} (${report.problem}): ${report.detail}`);
      console.log(`${report.rowsChecked} rows before it verified`);
    }
  } finally {
    await db.close();
  }
} catch (error) {
  process.exitCode = 2;
  // A connection or SQL failure reads best as one line; anything else is a bug.
  console.error(error instanceof Error && 'severity' in error ? `audit:verify: ${error.message}` : error);
}
