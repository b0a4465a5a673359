// Builds a manifest delta from the change log (migration 0007): only the keys whose hashes were
// logged between the edge's version and now are read, so a change costs the same at 100 keys and
// at 1M. Catalog and org states are included in full (small).

import type { ManifestDeltaPayload } from '../../shared/manifest-delta.ts';
import { MANIFEST_FORMAT } from '../../shared/manifest.ts';
import type { Database } from '../db.ts';
import { listChangedKeyHashes, readChangeWindow } from '../sql/manifest-changes.ts';
import { listCatalog, listLiveKeys, listOrgStates } from '../sql/manifest.ts';
import { keyEntries, modelsFromCatalog } from './build.ts';

/**
 * The delta from `from` to the current version, or 'snapshot' when one cannot or should not be
 * answered: the log does not reach back that far, the edge claims a version this database never
 * published, or more than `maxKeys` hashes changed (a snapshot is then about as cheap).
 */
export async function buildManifestDelta(
  db: Database,
  options: { from: number; nowSeconds: number; ttlSeconds: number; maxKeys: number },
): Promise<ManifestDeltaPayload | 'snapshot'> {
  // One REPEATABLE READ snapshot, as for a full build: the log rows and the key rows agree with
  // the version they are published under.
  const built = await db.transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { version, changesSince } = await readChangeWindow(tx);
    if (options.from < changesSince || options.from > version) return null;
    const hashes = await listChangedKeyHashes(tx, { from: options.from, to: version, limit: options.maxKeys });
    if (hashes === null) return null;
    return {
      version,
      hashes,
      keys: hashes.length > 0 ? await listLiveKeys(tx, { hashes }) : [],
      orgs: await listOrgStates(tx),
      catalog: await listCatalog(tx),
    };
  });
  if (!built) return 'snapshot';

  const put = Object.fromEntries(built.keys.flatMap(keyEntries));
  return {
    format: MANIFEST_FORMAT,
    from: options.from,
    to: built.version,
    issued_at: options.nowSeconds,
    expires_at: options.nowSeconds + options.ttlSeconds,
    put,
    remove: built.hashes.filter((hash) => !Object.hasOwn(put, hash)),
    orgs: Object.fromEntries(built.orgs.map((o) => [o.id, { status: o.status }])),
    models: modelsFromCatalog(built.catalog),
  };
}
