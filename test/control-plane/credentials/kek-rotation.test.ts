// KEK rotation: every data key is re-wrapped under the new KEK, one row per transaction; every
// credential opens during and after; a re-run does nothing; `npm run rotate-kek` does the same.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptCredential } from '../../../control-plane/credentials/decrypt-credential.ts';
import { EnvelopeError } from '../../../control-plane/credentials/envelope.ts';
import { generateKekBase64, importKeyring, type Keyring } from '../../../control-plane/credentials/keyring.ts';
import { rotateKek } from '../../../control-plane/credentials/rotate-kek.ts';
import { sealSecret } from '../../../control-plane/credentials/secret-store.ts';
import { createHarness, type Harness } from '../../support/control-plane.ts';
import { createTestDatabase, postgresAvailable } from '../../support/db.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
let h: Harness;
const ids: string[] = [];
const plain = new Map<string, string>();
const kek1 = generateKekBase64();
const kek2 = generateKekBase64();
const ring = (keks: Record<string, string>, active: string): Promise<Keyring> =>
  importKeyring({ keks: Object.fromEntries(Object.entries(keks).map(([id, b64]) => [id, new Uint8Array(Buffer.from(b64, 'base64'))])), activeKekId: active });

beforeAll(async () => {
  h = await createHarness();
  await h.request('POST', '/v1/manage/suppliers', { token: h.ownerToken, body: { id: 'rot', name: 'rot', format: 'openai', base_url: 'https://r.example.test', region: 'EU' } });
  for (let i = 0; i < 3; i++) {
    const apiKey = `sk-rotation-${i}-0123456789abcdef`;
    const res = await h.request('POST', '/v1/manage/suppliers/rot/credentials', { token: h.ownerToken, body: { kind: 'api_key', api_key: apiKey } });
    const id = ((await res.json()) as { id: string }).id;
    ids.push(id);
    plain.set(id, apiKey);
  }
  const oauth = await h.request('POST', '/v1/manage/suppliers/rot/credentials', {
    token: h.ownerToken,
    body: { kind: 'oauth', access_token: 'at-rotation-0123456789', refresh_token: 'rt-rotation-0123456789', client_id: 'c', token_url: 'https://r.example.test/token', access_token_expires_at: new Date(Date.now() + 3_600_000).toISOString() },
  });
  ids.push(((await oauth.json()) as { id: string }).id);
}, 60_000);
afterAll(() => h?.close());

const wraps = async () => (await h.testDb.db.query<{ kek_id: string; n: string }>('SELECT kek_id, count(*) AS n FROM credential_secrets GROUP BY kek_id ORDER BY kek_id')).rows.map((r) => [r.kek_id, Number(r.n)]);
const ciphertexts = async () => (await h.testDb.db.query<{ c: string }>("SELECT string_agg(encode(ciphertext, 'hex'), ',' ORDER BY credential_id, field) AS c FROM credential_secrets")).rows[0]!.c;

describe('KEK rotation', () => {
  it('re-wraps every data key under the new KEK while old and new rows both open, then needs only the new KEK', async () => {
    const both = { activeKekId: 'k2', keks: new Map([...h.credentialKeys.keks, ...(await ring({ k2: kek2 }, 'k2')).keks]) };
    const onlyNew = await ring({ k2: kek2 }, 'k2');
    const sealedBefore = await ciphertexts();
    expect(await wraps()).toEqual([['test-kek-1', 5]]);

    // During: part of the rows moved. Every credential still opens with both KEKs configured.
    const partial = await rotateKek(h.testDb.db, both, { maxRows: 2 });
    expect(partial).toEqual({ rewrapped: 2, unknownKek: 0, remaining: 3 });
    for (const id of ids) expect(await decryptCredential(h.testDb.db, both, id)).not.toBeNull();

    const rest = await rotateKek(h.testDb.db, both);
    expect(rest).toEqual({ rewrapped: 3, unknownKek: 0, remaining: 0 });
    expect(await wraps()).toEqual([['k2', 5]]);
    expect(await ciphertexts()).toBe(sealedBefore);
    for (const id of ids.slice(0, 3)) expect((await decryptCredential(h.testDb.db, onlyNew, id))).toMatchObject({ apiKey: plain.get(id) });
    expect(await decryptCredential(h.testDb.db, onlyNew, ids[3]!)).toMatchObject({ accessToken: 'at-rotation-0123456789' });
    await expect(decryptCredential(h.testDb.db, h.credentialKeys, ids[0]!)).rejects.toThrow(EnvelopeError);

    const rewrapAudit = await h.testDb.db.query("SELECT count(*) AS n FROM audit_log WHERE action = 'credential.rewrap'");
    expect(Number(rewrapAudit.rows[0]!.n)).toBe(5);
    // Idempotent: nothing is left under another KEK, so a re-run changes and audits nothing.
    expect(await rotateKek(h.testDb.db, both)).toEqual({ rewrapped: 0, unknownKek: 0, remaining: 0 });
    expect(Number((await h.testDb.db.query("SELECT count(*) AS n FROM audit_log WHERE action = 'credential.rewrap'")).rows[0]!.n)).toBe(5);
  });

  it('reports envelopes under a KEK it does not have instead of failing', async () => {
    const stranger = await ring({ k3: generateKekBase64() }, 'k3');
    expect(await rotateKek(h.testDb.db, stranger)).toEqual({ rewrapped: 0, unknownKek: 5, remaining: 5 });
  });
});

describe.skipIf(!postgresAvailable())('npm run rotate-kek', () => {
  function runCli(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'control-plane/credentials/rotate-kek-cli.ts'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (code) => resolve({ code, out }));
    });
  }

  it('re-wraps a database under CREDENTIAL_KEK_ACTIVE and is a no-op when run again', async () => {
    const db = await createTestDatabase({ target: 'postgres' });
    try {
      const old = await ring({ old: kek1 }, 'old');
      const id = '0190a000-0000-7000-8000-0000000000c1';
      await db.db.query("INSERT INTO suppliers (id, name, format, base_url, region) VALUES ('cli', 'cli', 'openai', 'https://c.example.test', 'EU')");
      await db.db.query("INSERT INTO supplier_credentials (id, supplier_id, kind) VALUES ($1, 'cli', 'api_key')", [id]);
      await db.db.transaction((tx) => sealSecret(tx, old, id, 'secret', 'sk-cli-0123456789abcdef'));

      const env = { DATABASE_URL: db.url!, CREDENTIAL_KEKS: JSON.stringify({ old: kek1, new: kek2 }), CREDENTIAL_KEK_ACTIVE: 'new' };
      const first = await runCli(env);
      expect(first, first.out).toMatchObject({ code: 0 });
      expect(first.out).toContain("re-wrapped 1 data key(s) under 'new'; 0 remain");
      expect((await runCli(env)).out).toContain('re-wrapped 0 data key(s)');
      expect(await decryptCredential(db.db, await ring({ new: kek2 }, 'new'), id)).toMatchObject({ apiKey: 'sk-cli-0123456789abcdef' });
      expect(first.out).not.toContain(kek1);
    } finally {
      await db.drop();
    }
  });
});
