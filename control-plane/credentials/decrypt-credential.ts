// A credential with its secrets in clear, for the code that must use them (the OAuth refresher
// now; sealing credentials to edge nodes later). Nothing returned here may be logged or stored.

import type { Queryable } from '../db.ts';
import { findCredential } from '../sql/credentials.ts';
import type { Keyring } from './keyring.ts';
import { openSecrets } from './secret-store.ts';

export type DecryptedCredential =
  | { kind: 'api_key'; id: string; supplierId: string; apiKey: string }
  | {
      kind: 'oauth';
      id: string;
      supplierId: string;
      accessToken: string;
      accessTokenExpiresAt: Date;
      refreshToken: string;
      tokenUrl: string;
      clientId: string;
      clientSecret: string | null;
    };

/** null for a missing or retired credential (retiring destroys the secrets). Throws EnvelopeError on tamper or a missing KEK. */
export async function decryptCredential(db: Queryable, keyring: Keyring, id: string): Promise<DecryptedCredential | null> {
  const row = await findCredential(db, id);
  if (!row || row.status !== 'active') return null;
  const secrets = await openSecrets(db, keyring, id);
  if (secrets.secret === undefined) throw new Error(`credential ${id} has no stored secret`);
  if (row.kind === 'api_key') return { kind: 'api_key', id, supplierId: row.supplier_id, apiKey: secrets.secret };
  if (secrets.refresh_token === undefined) throw new Error(`OAuth credential ${id} has no stored refresh token`);
  return {
    kind: 'oauth',
    id,
    supplierId: row.supplier_id,
    accessToken: secrets.secret,
    accessTokenExpiresAt: row.access_token_expires_at!,
    refreshToken: secrets.refresh_token,
    tokenUrl: row.token_url!,
    clientId: row.client_id!,
    clientSecret: secrets.client_secret ?? null,
  };
}
