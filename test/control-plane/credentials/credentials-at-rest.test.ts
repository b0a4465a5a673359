// Provider credentials through the API on a real database: metadata out, secrets sealed in, never
// in clear in any table; envelopes moved between rows or fields fail; retiring destroys secrets;
// owner-only writes.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createControlPlaneApp } from '../../../control-plane/app.ts';
import { silentLogger } from '../../../control-plane/log.ts';
import { decryptCredential } from '../../../control-plane/credentials/decrypt-credential.ts';
import { EnvelopeError } from '../../../control-plane/credentials/envelope.ts';
import { createHarness, type Harness } from '../../support/control-plane.ts';

let h: Harness;
type Json = Record<string, unknown> & { error?: { code: string; param: string | null; message: string } };

const API_KEY = 'sk-live-APIKEY-4f1c9e2b7d3a8f60';
const OAUTH = {
  kind: 'oauth',
  access_token: 'at-OAUTH-ACCESS-9b8c7d6e5f4a3b2c',
  refresh_token: 'rt-OAUTH-REFRESH-1a2b3c4d5e6f7a8b',
  client_secret: 'cs-OAUTH-CLIENT-SECRET-0f9e8d7c',
  client_id: 'taas-gateway',
  token_url: 'https://auth.example.test/oauth/token',
  access_token_expires_at: new Date(Date.now() + 3_600_000).toISOString(),
};

beforeAll(async () => {
  h = await createHarness();
  for (const id of ['cred-sup', 'other-sup']) {
    await h.request('POST', '/v1/manage/suppliers', { token: h.ownerToken, body: { id, name: id, format: 'openai', base_url: 'https://x.example.test/v1', region: 'EU' } });
  }
}, 60_000);
afterAll(() => h?.close());

async function call(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json; text: string }> {
  const res = await h.request(method, path, { token, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Json, text };
}

/** Every row of every table that could hold a secret, as text (bytea as hex). */
async function dump(): Promise<string> {
  const { rows } = await h.testDb.db.query<{ t: string }>(
    `SELECT concat_ws('|', (SELECT json_agg(c)::text FROM supplier_credentials c), (SELECT json_agg(s)::text FROM credential_secrets s),
                           (SELECT json_agg(a)::text FROM audit_log a)) AS t`,
  );
  return rows[0]!.t;
}

const forms = (secret: string) => [secret, Buffer.from(secret).toString('hex'), Buffer.from(secret).toString('base64')];

describe('supplier credentials at rest', () => {
  it('stores an API key sealed: metadata out, the secret nowhere in clear, decryptable for use', async () => {
    const created = await call(h.ownerToken, 'POST', '/v1/manage/suppliers/cred-sup/credentials', { kind: 'api_key', api_key: API_KEY });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ object: 'supplier_credential', supplier_id: 'cred-sup', kind: 'api_key', status: 'active', hint: '…8f60' });
    expect(created.text).not.toContain(API_KEY.slice(0, -4));
    const listed = await call(h.ownerToken, 'GET', '/v1/manage/suppliers/cred-sup/credentials');
    expect((listed.body.data as Json[]).map((c) => c.id)).toContain(created.body.id);
    expect(listed.text).not.toContain(API_KEY.slice(0, -4));

    const text = await dump();
    for (const form of forms(API_KEY.slice(0, -4))) expect(text).not.toContain(form);
    const stored = await h.testDb.db.query('SELECT field, kek_id FROM credential_secrets WHERE credential_id = $1', [created.body.id]);
    expect(stored.rows).toEqual([{ field: 'secret', kek_id: 'test-kek-1' }]);
    expect(await decryptCredential(h.testDb.db, h.credentialKeys, created.body.id as string)).toEqual({ kind: 'api_key', id: created.body.id, supplierId: 'cred-sup', apiKey: API_KEY });
  });

  it('stores an OAuth grant with its three secrets sealed and its non-secret fields readable', async () => {
    const created = await call(h.ownerToken, 'POST', '/v1/manage/suppliers/cred-sup/credentials', OAUTH);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ kind: 'oauth', hint: null, client_id: 'taas-gateway', token_url: OAUTH.token_url, access_token_expires_at: OAUTH.access_token_expires_at });
    const text = (await dump()) + created.text;
    for (const secret of [OAUTH.access_token, OAUTH.refresh_token, OAUTH.client_secret]) for (const form of forms(secret)) expect(text).not.toContain(form);
    expect(await decryptCredential(h.testDb.db, h.credentialKeys, created.body.id as string)).toMatchObject({
      kind: 'oauth',
      accessToken: OAUTH.access_token,
      refreshToken: OAUTH.refresh_token,
      clientSecret: OAUTH.client_secret,
      clientId: 'taas-gateway',
    });
  });

  it('fails to decrypt an envelope swapped into another credential or another field', async () => {
    const a = (await call(h.ownerToken, 'POST', '/v1/manage/suppliers/cred-sup/credentials', { kind: 'api_key', api_key: 'sk-AAAAAAAAAAAAAAAAAAAA' })).body.id as string;
    const b = (await call(h.ownerToken, 'POST', '/v1/manage/suppliers/cred-sup/credentials', { kind: 'api_key', api_key: 'sk-BBBBBBBBBBBBBBBBBBBB' })).body.id as string;
    const c = (await call(h.ownerToken, 'POST', '/v1/manage/suppliers/cred-sup/credentials', { kind: 'api_key', api_key: 'sk-CCCCCCCCCCCCCCCCCCCC' })).body.id as string;
    const o = (await call(h.ownerToken, 'POST', '/v1/manage/suppliers/cred-sup/credentials', OAUTH)).body.id as string;
    const copy = `UPDATE credential_secrets t SET kek_id = s.kek_id, wrapped_key = s.wrapped_key, wrap_iv = s.wrap_iv, iv = s.iv, ciphertext = s.ciphertext
                    FROM credential_secrets s WHERE s.credential_id = $1 AND s.field = $2 AND t.credential_id = $3 AND t.field = $4`;
    await h.testDb.db.query(copy, [a, 'secret', b, 'secret']);
    await expect(decryptCredential(h.testDb.db, h.credentialKeys, b)).rejects.toThrow(EnvelopeError);
    await h.testDb.db.query(copy, [o, 'refresh_token', o, 'secret']);
    await expect(decryptCredential(h.testDb.db, h.credentialKeys, o)).rejects.toThrow(EnvelopeError);
    // Only the ciphertext moved (the data key stays): the associated data still catches it.
    await h.testDb.db.query(
      `UPDATE credential_secrets t SET iv = s.iv, ciphertext = s.ciphertext FROM credential_secrets s
        WHERE s.credential_id = $1 AND s.field = 'secret' AND t.credential_id = $2 AND t.field = 'secret'`,
      [c, a],
    );
    await expect(decryptCredential(h.testDb.db, h.credentialKeys, a)).rejects.toThrow(EnvelopeError);
  });

  it('validates without echoing secrets, and 404s an unknown supplier', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ api_key: API_KEY }, 'kind'],
      [{ kind: 'password', api_key: API_KEY }, 'kind'],
      [{ kind: 'api_key', api_key: 'sk with spaces 0123456789' }, 'api_key'],
      [{ kind: 'api_key', api_key: 'short' }, 'api_key'],
      [{ kind: 'api_key', api_key: API_KEY, token_url: OAUTH.token_url }, ''],
      [{ ...OAUTH, token_url: 'http://auth.example.test/token' }, 'token_url'],
      [{ ...OAUTH, access_token_expires_at: 'soon' }, 'access_token_expires_at'],
      [{ ...OAUTH, refresh_token: undefined }, 'refresh_token'],
    ];
    for (const [body, param] of cases) {
      const res = await call(h.ownerToken, 'POST', '/v1/manage/suppliers/cred-sup/credentials', body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      if (param) expect(res.body.error!.param, JSON.stringify(body)).toBe(param);
      expect(res.text).not.toContain('0123456789');
      expect(res.text).not.toContain(OAUTH.access_token);
    }
    expect((await call(h.ownerToken, 'POST', '/v1/manage/suppliers/nobody/credentials', { kind: 'api_key', api_key: API_KEY })).status).toBe(404);
    expect((await call(h.ownerToken, 'GET', '/v1/manage/suppliers/nobody/credentials')).status).toBe(404);
  });

  it('lets only the owner add and retire; staff may read metadata; tenants get 403; refusals leave no audit row', async () => {
    const admin = await h.addUser({ platformRole: 'taas_admin' });
    const org = (await call(h.ownerToken, 'POST', '/v1/manage/orgs', { name: 'T' })).body.id as string;
    const tenant = await h.addUser({ orgId: org, orgRole: 'org_owner' });
    const id = (await call(h.ownerToken, 'POST', '/v1/manage/suppliers/cred-sup/credentials', { kind: 'api_key', api_key: API_KEY })).body.id as string;
    const audit = Number((await h.testDb.db.query('SELECT count(*) AS n FROM audit_log')).rows[0]!.n);
    expect((await call(admin.token, 'POST', '/v1/manage/suppliers/cred-sup/credentials', { kind: 'api_key', api_key: API_KEY })).status).toBe(403);
    expect((await call(admin.token, 'POST', `/v1/manage/credentials/${id}/retire`)).status).toBe(403);
    expect((await call(admin.token, 'GET', '/v1/manage/suppliers/cred-sup/credentials')).status).toBe(200);
    expect((await call(tenant.token, 'GET', '/v1/manage/suppliers/cred-sup/credentials')).status).toBe(403);
    expect((await call(tenant.token, 'POST', '/v1/manage/suppliers/cred-sup/credentials', { kind: 'api_key', api_key: API_KEY })).status).toBe(403);
    expect(Number((await h.testDb.db.query('SELECT count(*) AS n FROM audit_log')).rows[0]!.n)).toBe(audit);
  });

  it('retires a credential only once no route pins it, destroying its secrets', async () => {
    await call(h.ownerToken, 'POST', '/v1/manage/models', { id: 'pinning-model', owned_by: 'x' });
    const id = (await call(h.ownerToken, 'POST', '/v1/manage/suppliers/cred-sup/credentials', { kind: 'api_key', api_key: API_KEY })).body.id as string;
    const route = (await call(h.ownerToken, 'POST', '/v1/manage/models/pinning-model/routes', { supplier_id: 'cred-sup', upstream_model: 'up', credential_id: id })).body.id as string;

    expect((await call(h.ownerToken, 'POST', `/v1/manage/credentials/${id}/retire`)).status).toBe(409);
    await call(h.ownerToken, 'PATCH', `/v1/manage/routes/${route}`, { credential_id: null });
    const retired = await call(h.ownerToken, 'POST', `/v1/manage/credentials/${id}/retire`);
    expect(retired.status).toBe(200);
    expect(retired.body).toMatchObject({ status: 'retired' });
    expect((await h.testDb.db.query('SELECT count(*) AS n FROM credential_secrets WHERE credential_id = $1', [id])).rows[0]!.n).toBe('0');
    expect(await decryptCredential(h.testDb.db, h.credentialKeys, id)).toBeNull();
    expect((await call(h.ownerToken, 'POST', `/v1/manage/credentials/${id}/retire`)).status).toBe(200);
    const actions = (await h.testDb.db.query('SELECT action FROM audit_log WHERE target_id = $1 ORDER BY id', [id])).rows.map((r) => r.action);
    expect(actions).toEqual(['credential.create', 'credential.retire']);
    const repin = await call(h.ownerToken, 'PATCH', `/v1/manage/routes/${route}`, { credential_id: id });
    expect([repin.status, repin.body.error!.param]).toEqual([422, 'credential_id']);
    expect((await call(h.ownerToken, 'POST', '/v1/manage/credentials/0190a000-0000-7000-8000-000000000077/retire')).status).toBe(404);
  });
});

describe('a control plane without CREDENTIAL_KEKS', () => {
  it('answers a credential write with 503 not_configured and stores nothing', async () => {
    const unconfigured = createControlPlaneApp({
      db: h.testDb.db,
      manifest: { current: async () => { throw new Error('unused'); }, updateFor: async () => { throw new Error('unused'); }, waitBeyond: async () => 0, shard: async () => null },
      now: () => new Date(),
      log: silentLogger,
    });
    const before = await h.testDb.db.query('SELECT count(*) AS n FROM supplier_credentials');
    const res = await unconfigured.request('/v1/manage/suppliers/cred-sup/credentials', {
      method: 'POST',
      headers: { authorization: `Bearer ${h.ownerToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'api_key', api_key: API_KEY }),
    });
    expect(res.status).toBe(503);
    expect(((await res.json()) as Json).error?.code).toBe('not_configured');
    const after = await h.testDb.db.query('SELECT count(*) AS n FROM supplier_credentials');
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
  });
});
