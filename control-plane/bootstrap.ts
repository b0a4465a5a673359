// First start of an empty database: create the platform owner and one management token, once.
// The raw token is returned to the caller to print; only its SHA-256 is stored.

import { generateToken, hashToken, tokenDisplayPrefix } from '../shared/api-key.ts';
import { uuidv7 } from '../shared/ids.ts';
import { writeAudit } from './audit.ts';
import type { Database } from './db.ts';
import { countPlatformOwners, insertAdminToken, insertUser } from './sql/principals.ts';

/** Any 64-bit constant distinct from the migration runner's; serialises bootstraps of several replicas. */
const BOOTSTRAP_LOCK = 7_230_118_411;

export async function bootstrapOwner(
  db: Database,
  options: { email: string; now: Date },
): Promise<{ userId: string; token: string } | null> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK]);
    if ((await countPlatformOwners(tx)) > 0) return null;
    const userId = uuidv7(options.now.getTime());
    const tokenId = uuidv7(options.now.getTime());
    const token = generateToken('admin_token');
    await insertUser(tx, { id: userId, email: options.email, name: 'Platform owner', platformRole: 'taas_owner' });
    await insertAdminToken(tx, { id: tokenId, userId, name: 'bootstrap', tokenHash: await hashToken(token), prefix: tokenDisplayPrefix(token) });
    await writeAudit(
      tx,
      { userId: null, tokenId: null, requestId: null, clientAddr: null },
      { action: 'platform.bootstrap_owner', targetType: 'user', targetId: userId, orgId: null, after: { email: options.email, platform_role: 'taas_owner' } },
    );
    return { userId, token };
  });
}
