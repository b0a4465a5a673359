// `npm run migrate`: applies pending migrations to DATABASE_URL, or to the embedded PGlite data
// directory that `npm start` uses. A separate entry, so it reads its two variables itself
// (config.ts would also demand the signing key, which migrating does not need).
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from './db.ts';
import { migrate, MigrationError } from './migrate.ts';
import { DEFAULT_PGLITE_DATA_DIR } from './pglite.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const url = process.env.MIGRATION_DATABASE_URL || process.env.DATABASE_URL || undefined;
const pgliteDataDir = resolve(root, process.env.PGLITE_DATA_DIR || DEFAULT_PGLITE_DATA_DIR);

const db = await openDatabase(url === undefined ? { pgliteDataDir } : { url });
try {
  const { applied } = await migrate(db, { dir: resolve(root, 'migrations') });
  const where = url === undefined ? `embedded PGlite at ${pgliteDataDir}` : db.target;
  console.log(applied.length === 0 ? `migrate: ${where} is up to date` : `migrate: applied to ${where}: ${applied.join(', ')}`);
} catch (error) {
  process.exitCode = 1;
  // A MigrationError or a connection failure reads best as one line; anything else is a bug.
  console.error(error instanceof MigrationError || (error instanceof Error && 'severity' in error) ? `migrate: ${error.message}` : error);
} finally {
  await db.close();
}
