// Local tooling only (npm start, the bench): a management token for the first platform owner of a
// database that was bootstrapped earlier, when the token printed then is no longer at hand.
// Written straight to the database with its audit row, like any token creation.

import { generateToken, hashToken, tokenDisplayPrefix } from '../shared/api-key.ts';
import { uuidv7 } from '../shared/ids.ts';
import { writeAudit } from '../control-plane/audit.ts';
import type { Database } from '../control-plane/db.ts';
import { insertAdminToken } from '../control-plane/sql/principals.ts';

export async function mintOwnerToken(db: Database, name: string): Promise<string> {
  const { rows } = await db.query<{ id: string }>("SELECT id FROM users WHERE platform_role = 'taas_owner' ORDER BY id LIMIT 1");
  const token = generateToken('admin_token');
  const tokenId = uuidv7();
  await db.transaction(async (tx) => {
    await insertAdminToken(tx, { id: tokenId, userId: rows[0]!.id, name, tokenHash: await hashToken(token), prefix: tokenDisplayPrefix(token) });
    await writeAudit(tx, { userId: null, tokenId: null, requestId: null, clientAddr: name }, { action: 'admin_token.create', targetType: 'admin_token', targetId: tokenId, orgId: null });
  });
  return token;
}
