// `npm run rotate-kek`: re-wraps every credential data key under CREDENTIAL_KEK_ACTIVE. Run it
// after every replica has both the old and the new KEK in CREDENTIAL_KEKS and the new one active;
// remove the old KEK only once this reports nothing remaining. Like migrate-cli, it reads the two
// database variables itself (config.ts would also demand the manifest signing key).

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadCredentialKeys } from '../config.ts';
import { openDatabase } from '../db.ts';
import { DEFAULT_PGLITE_DATA_DIR } from '../pglite.ts';
import { importKeyring } from './keyring.ts';
import { rotateKek } from './rotate-kek.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const url = process.env.DATABASE_URL || undefined;
const pgliteDataDir = resolve(root, process.env.PGLITE_DATA_DIR || DEFAULT_PGLITE_DATA_DIR);

try {
  const keys = loadCredentialKeys(process.env);
  if (!keys) throw new ConfigError('CREDENTIAL_KEKS is not set: there is no KEK to rotate to');
  const keyring = await importKeyring(keys);
  const db = await openDatabase(url === undefined ? { pgliteDataDir } : { url });
  try {
    const result = await rotateKek(db, keyring);
    console.log(`rotate-kek: re-wrapped ${result.rewrapped} data key(s) under '${keyring.activeKekId}'; ${result.remaining} remain under other KEKs`);
    if (result.unknownKek > 0) {
      console.error(`rotate-kek: ${result.unknownKek} data key(s) are wrapped by a KEK missing from CREDENTIAL_KEKS; add it and run again`);
    }
    if (result.remaining > 0) process.exitCode = 1;
  } finally {
    await db.close();
  }
} catch (error) {
  process.exitCode = 1;
  console.error(error instanceof ConfigError ? `rotate-kek: ${error.message}` : error);
}
