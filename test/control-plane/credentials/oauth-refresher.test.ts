// The OAuth refresher against a local fake token server: renews before expiry, stores a rotated
// refresh token, retries failures next round, logs no secret, refreshes each grant once across
// concurrent refreshers, and runs as a loop inside startControlPlane until close.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../control-plane/config.ts';
import { decryptCredential } from '../../../control-plane/credentials/decrypt-credential.ts';
import { importKeyring } from '../../../control-plane/credentials/keyring.ts';
import { createOAuthRefresher, type OAuthRefresherOptions } from '../../../control-plane/credentials/oauth-refresher.ts';
import type { Logger } from '../../../control-plane/log.ts';
import { startControlPlane } from '../../../control-plane/server.ts';
import { generateEd25519 } from '../../../scripts/keys.ts';
import { createHarness, type Harness } from '../../support/control-plane.ts';
import { createTestDatabase, postgresAvailable } from '../../support/db.ts';
import { startFakeTokenServer, type FakeTokenServer } from '../../support/fake-token-server.ts';

let h: Harness;
let tokens: FakeTokenServer;
const logs: Record<string, unknown>[] = [];
const log: Logger = (level, msg, fields) => logs.push({ level, msg, ...fields });

beforeAll(async () => {
  h = await createHarness();
  tokens = await startFakeTokenServer();
  await h.request('POST', '/v1/manage/suppliers', { token: h.ownerToken, body: { id: 'oa', name: 'oa', format: 'anthropic', base_url: 'https://oa.example.test', region: 'EU' } });
}, 60_000);
afterAll(async () => {
  await tokens?.close();
  await h?.close();
});

let serial = 0;
async function grant(options: { expiresInMs: number; clientSecret?: string; tokenUrl?: string }) {
  serial++;
  const body = {
    kind: 'oauth',
    access_token: `at-initial-${serial}-secretvalue`,
    refresh_token: `rt-initial-${serial}-secretvalue`,
    client_id: 'gateway client',
    token_url: options.tokenUrl ?? tokens.url,
    access_token_expires_at: new Date(Date.now() + options.expiresInMs).toISOString(),
    ...(options.clientSecret ? { client_secret: options.clientSecret } : {}),
  };
  const res = await h.request('POST', '/v1/manage/suppliers/oa/credentials', { token: h.ownerToken, body });
  expect(res.status).toBe(201);
  return { id: ((await res.json()) as { id: string }).id, ...body };
}

function refresher(extra: Partial<OAuthRefresherOptions> = {}) {
  return createOAuthRefresher({ db: h.testDb.db, keyring: h.credentialKeys, log, now: () => new Date(), leadSeconds: 300, intervalSeconds: 60, ...extra });
}

describe('OAuth refresher', () => {
  it('renews a token before it expires and stores the new access token, the rotated refresh token and the expiry', async () => {
    const due = await grant({ expiresInMs: 60_000, clientSecret: 'cs-confidential-secret' });
    const later = await grant({ expiresInMs: 2 * 3_600_000 });
    const seen = tokens.requests.length;
    const started = Date.now();

    expect(await refresher().runOnce()).toEqual({ refreshed: 1, failed: 0 });
    expect(tokens.requests.length).toBe(seen + 1);
    const request = tokens.requests[seen]!;
    expect(request.contentType).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(request.form)).toEqual({ grant_type: 'refresh_token', refresh_token: due.refresh_token });
    // RFC 6749 §2.3.1: id and secret form-encoded (the space becomes +), then Basic.
    expect(request.authorization).toBe(`Basic ${Buffer.from('gateway+client:cs-confidential-secret').toString('base64')}`);

    const n = seen + 1;
    const renewed = await decryptCredential(h.testDb.db, h.credentialKeys, due.id);
    expect(renewed).toMatchObject({ accessToken: `at-${n}-fresh-access`, refreshToken: `rt-${n}-rotated-refresh`, clientSecret: 'cs-confidential-secret' });
    if (renewed?.kind !== 'oauth') throw new Error('expected an OAuth credential');
    expect(renewed.accessTokenExpiresAt.getTime()).toBeGreaterThanOrEqual(started + 3_600_000 - 1000);
    expect((await decryptCredential(h.testDb.db, h.credentialKeys, later.id))).toMatchObject({ accessToken: later.access_token });

    const audit = await h.testDb.db.query("SELECT actor_user_id, client_addr, after FROM audit_log WHERE target_id = $1 AND action = 'credential.oauth_refresh'", [due.id]);
    expect(audit.rows).toEqual([{ actor_user_id: null, client_addr: 'system:oauth-refresher', after: expect.objectContaining({ refresh_token_rotated: true }) }]);
    // Renewed: no longer due, so the next round leaves it alone.
    expect(await refresher().runOnce()).toEqual({ refreshed: 0, failed: 0 });
  });

  it('keeps the refresh token when the server does not rotate it, and sends a public client id in the body', async () => {
    const due = await grant({ expiresInMs: 10_000 });
    tokens.answer(() => ({ status: 200, body: { access_token: 'at-not-rotated-access', token_type: 'bearer', expires_in: '1800' } }));
    expect(await refresher().runOnce()).toEqual({ refreshed: 1, failed: 0 });
    const request = tokens.requests[tokens.requests.length - 1]!;
    expect(request.authorization).toBeNull();
    expect(request.form.get('client_id')).toBe('gateway client');
    expect(await decryptCredential(h.testDb.db, h.credentialKeys, due.id)).toMatchObject({ accessToken: 'at-not-rotated-access', refreshToken: due.refresh_token });
  });

  it('logs failures without any token, changes nothing, and retries next round', async () => {
    const flaky = await grant({ expiresInMs: 30_000 });
    const unreachable = await grant({ expiresInMs: 30_000, tokenUrl: 'http://127.0.0.1:9/oauth/token' });
    logs.length = 0;
    tokens.answer((request) => ({ status: 400, body: { error: 'invalid_grant', error_description: `refresh token ${request.form.get('refresh_token')} is unknown` } }));
    expect(await refresher().runOnce()).toEqual({ refreshed: 0, failed: 2 });
    tokens.answer(() => ({ status: 200, body: '<html>token=at-in-a-broken-body</html>' }));
    expect(await refresher().runOnce()).toEqual({ refreshed: 0, failed: 2 });
    expect(await decryptCredential(h.testDb.db, h.credentialKeys, flaky.id)).toMatchObject({ accessToken: flaky.access_token, refreshToken: flaky.refresh_token });

    const failures = logs.filter((l) => l.msg === 'oauth refresh failed');
    expect(failures).toContainEqual(expect.objectContaining({ level: 'warn', credential_id: flaky.id, reason: 'http_status', status: 400, oauth_error: 'invalid_grant' }));
    expect(failures).toContainEqual(expect.objectContaining({ credential_id: flaky.id, reason: 'bad_response' }));
    expect(failures).toContainEqual(expect.objectContaining({ credential_id: unreachable.id, reason: 'network' }));

    tokens.answer((_request, n) => ({ status: 200, body: { access_token: `at-${n}-after-retry`, expires_in: 3600 } }));
    expect(await refresher().runOnce()).toEqual({ refreshed: 1, failed: 1 });
    expect(await decryptCredential(h.testDb.db, h.credentialKeys, flaky.id)).toMatchObject({ accessToken: expect.stringMatching(/-after-retry$/) });
    const logged = JSON.stringify(logs);
    for (const secret of [flaky.access_token, flaky.refresh_token, unreachable.refresh_token, 'at-in-a-broken-body', 'after-retry']) expect(logged).not.toContain(secret);
    await h.request('POST', `/v1/manage/credentials/${unreachable.id}/retire`, { token: h.ownerToken });
  });

  it('sends nothing for a grant whose envelope it cannot open, and says so in the log', async () => {
    const sealed = await grant({ expiresInMs: 5_000 });
    const seen = tokens.requests.length;
    logs.length = 0;
    const stranger = await importKeyring({ keks: { other: crypto.getRandomValues(new Uint8Array(32)) }, activeKekId: 'other' });
    expect(await refresher({ keyring: stranger }).runOnce()).toEqual({ refreshed: 0, failed: 1 });
    expect(tokens.requests.length).toBe(seen);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', credential_id: sealed.id, reason: 'decrypt_failed' }));
    expect(await refresher().runOnce()).toEqual({ refreshed: 1, failed: 0 });
  });

  it('refreshes each grant exactly once when two refreshers run at the same time', async () => {
    const grants = [await grant({ expiresInMs: 20_000 }), await grant({ expiresInMs: 20_000 }), await grant({ expiresInMs: 20_000 })];
    tokens.answer((_request, n) => ({ status: 200, body: { access_token: `at-${n}-concurrent`, refresh_token: `rt-${n}-concurrent`, expires_in: 3600 }, delayMs: 200 }));
    const seen = tokens.requests.length;
    const [a, b] = await Promise.all([refresher().runOnce(), refresher().runOnce()]);
    expect(a.refreshed + b.refreshed).toBe(3);
    expect(a.failed + b.failed).toBe(0);
    const sent = tokens.requests.slice(seen).map((r) => r.form.get('refresh_token'));
    expect(sent.sort()).toEqual(grants.map((g) => g.refresh_token).sort());
  });
});

describe.skipIf(!postgresAvailable())('OAuth refresher inside startControlPlane', () => {
  it('starts with the control plane, renews on its interval, and stops on close', async () => {
    const db = await createTestDatabase({ target: 'postgres' });
    const server = await startFakeTokenServer();
    try {
      const config = loadConfig({
        DATABASE_URL: db.url!,
        CP_PORT: '0',
        MANIFEST_SIGNING_KEY: JSON.stringify((await generateEd25519('refresher')).privateJwk),
        CREDENTIAL_KEKS: JSON.stringify({ local: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64') }),
        OAUTH_REFRESH_INTERVAL_SECONDS: '1',
        OAUTH_REFRESH_LEAD_SECONDS: '120',
      });
      const cp = await startControlPlane(config, { log: () => {} });
      const manage = (path: string, body: unknown) =>
        fetch(`${cp.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${cp.bootstrapToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      try {
        expect((await manage('/v1/manage/suppliers', { id: 'live', name: 'live', format: 'openai', base_url: 'https://l.example.test', region: 'EU' })).status).toBe(201);
        const created = await manage('/v1/manage/suppliers/live/credentials', {
          kind: 'oauth',
          access_token: 'at-live-0123456789',
          refresh_token: 'rt-live-0123456789',
          client_id: 'c',
          token_url: server.url,
          access_token_expires_at: new Date(Date.now() + 60_000).toISOString(),
        });
        expect(created.status).toBe(201);
        const deadline = Date.now() + 5_000;
        while (server.requests.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        expect(server.requests.map((r) => r.form.get('refresh_token'))).toEqual(['rt-live-0123456789']);
      } finally {
        await cp.close();
      }
      // After close no round runs: a grant that comes due again is not refreshed.
      await db.db.query("UPDATE supplier_credentials SET access_token_expires_at = now() WHERE supplier_id = 'live'");
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(server.requests).toHaveLength(1);
    } finally {
      await server.close();
      await db.drop();
    }
  });
});
