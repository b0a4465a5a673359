// Renews OAuth access tokens before they expire (ARCHITECTURE.md "Credentials"). Each round takes
// the due credentials one at a time, each in its own transaction that holds the row lock across
// the token call: replicas running the same loop skip a locked row (SKIP LOCKED), so a grant is
// never refreshed twice at once, which matters when the server rotates refresh tokens. A failure
// changes nothing, is logged without any token, and is retried next round.

import { writeAudit, type Actor } from '../audit.ts';
import type { Database } from '../db.ts';
import type { Logger } from '../log.ts';
import { lockDueOAuthCredential, recordOAuthRefresh } from '../sql/credentials.ts';
import { EnvelopeError } from './envelope.ts';
import type { Keyring } from './keyring.ts';
import { requestTokenRefresh, type RefreshOutcome } from './oauth-token-request.ts';
import { openSecrets, sealSecret } from './secret-store.ts';

export interface OAuthRefresherOptions {
  db: Database;
  keyring: Keyring;
  log: Logger;
  now: () => Date;
  fetch?: typeof fetch;
  /** Renew a token this long before it expires. */
  leadSeconds: number;
  /** Pause between the end of one round and the start of the next. */
  intervalSeconds: number;
  requestTimeoutMs?: number;
}

export interface OAuthRefresher {
  /** One round over every due credential; what the loop runs. */
  runOnce(): Promise<{ refreshed: number; failed: number }>;
  start(): void;
  /** Stops the loop and waits for a round in progress. */
  stop(): Promise<void>;
}

const SYSTEM_ACTOR: Actor = { userId: null, tokenId: null, requestId: null, clientAddr: 'system:oauth-refresher' };
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

type Attempt = { credentialId: string; supplierId: string; outcome: RefreshOutcome | { ok: false; failure: 'decrypt_failed' } };

export function createOAuthRefresher(options: OAuthRefresherOptions): OAuthRefresher {
  const { db, keyring, log, now } = options;
  const fetchFn = options.fetch ?? fetch;

  /** Claims and refreshes the next due credential not yet tried this round; null when none is left. */
  async function refreshNext(tried: string[]): Promise<Attempt | null> {
    return db.transaction(async (tx) => {
      const row = await lockDueOAuthCredential(tx, { dueBefore: new Date(now().getTime() + options.leadSeconds * 1000), skipIds: tried });
      if (!row) return null;
      tried.push(row.id);
      const secrets = await openSecrets(tx, keyring, row.id).catch((error: unknown) => {
        if (error instanceof EnvelopeError) return null;
        throw error;
      });
      // A tampered envelope or a KEK this replica lacks: nothing can be sent, and nothing changes.
      if (secrets?.refresh_token === undefined) return { credentialId: row.id, supplierId: row.supplier_id, outcome: { ok: false, failure: 'decrypt_failed' } };
      const outcome = await requestTokenRefresh(
        fetchFn,
        { tokenUrl: row.token_url!, clientId: row.client_id!, clientSecret: secrets.client_secret ?? null, refreshToken: secrets.refresh_token },
        { timeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS },
      );
      if (!outcome.ok) return { credentialId: row.id, supplierId: row.supplier_id, outcome };
      await sealSecret(tx, keyring, row.id, 'secret', outcome.accessToken);
      if (outcome.refreshToken !== null) await sealSecret(tx, keyring, row.id, 'refresh_token', outcome.refreshToken);
      const after = await recordOAuthRefresh(tx, row.id, new Date(now().getTime() + outcome.expiresInSeconds * 1000));
      await writeAudit(tx, SYSTEM_ACTOR, {
        action: 'credential.oauth_refresh',
        targetType: 'supplier_credential',
        targetId: row.id,
        orgId: null,
        before: { access_token_expires_at: row.access_token_expires_at?.toISOString() ?? null },
        after: { access_token_expires_at: after.access_token_expires_at?.toISOString() ?? null, refresh_token_rotated: outcome.refreshToken !== null },
      });
      return { credentialId: row.id, supplierId: row.supplier_id, outcome };
    });
  }

  async function runOnce(): Promise<{ refreshed: number; failed: number }> {
    const tried: string[] = [];
    let refreshed = 0;
    let failed = 0;
    for (;;) {
      const claimedBefore = tried.length;
      let attempt: Attempt | null;
      try {
        attempt = await refreshNext(tried);
      } catch (error) {
        failed++;
        log('error', 'oauth refresh failed', { credential_id: tried[claimedBefore] ?? null, reason: 'internal', error: error instanceof Error ? error.message : String(error) });
        // Nothing claimed means the database itself failed: end the round, the next one retries.
        if (tried.length === claimedBefore) break;
        continue;
      }
      if (attempt === null) break;
      const { credentialId, supplierId, outcome } = attempt;
      if (outcome.ok) {
        refreshed++;
        log('info', 'oauth token refreshed', { credential_id: credentialId, supplier_id: supplierId, expires_in: outcome.expiresInSeconds, refresh_token_rotated: outcome.refreshToken !== null });
      } else {
        failed++;
        const detail = 'status' in outcome ? { status: outcome.status, oauth_error: outcome.oauthError } : {};
        log('warn', 'oauth refresh failed', { credential_id: credentialId, supplier_id: supplierId, reason: outcome.failure, ...detail });
      }
    }
    return { refreshed, failed };
  }

  let timer: NodeJS.Timeout | null = null;
  let round: Promise<unknown> | null = null;
  let stopped = true;

  function schedule(delayMs: number): void {
    timer = setTimeout(() => {
      timer = null;
      round = runOnce()
        .catch((error: unknown) => log('error', 'oauth refresh round failed', { error: error instanceof Error ? error.message : String(error) }))
        .finally(() => {
          round = null;
          if (!stopped) schedule(options.intervalSeconds * 1000);
        });
    }, delayMs);
  }

  return {
    runOnce,
    start() {
      if (!stopped) return;
      stopped = false;
      schedule(0);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await round;
    },
  };
}
