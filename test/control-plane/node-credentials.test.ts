// GET /node/v1/credentials on a real database: each secret sealed to the calling node's own
// X25519 key and bound to its credential, a 304 while nothing changed, a new ETag after a
// rotation or an OAuth renewal, and the plaintext in no log and in no answer to another node.

import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createControlPlaneApp } from '../../control-plane/app.ts';
import { sealSecret } from '../../control-plane/credentials/secret-store.ts';
import type { LogFields } from '../../control-plane/log.ts';
import { createManifestPublisher } from '../../control-plane/manifest/publisher.ts';
import { signNodeToken } from '../../shared/node-token.ts';
import { openCredential, type SealedCredentialSet } from '../../shared/sealed-credential.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';

type Node = { id: string; signing: CryptoKey; decryption: CryptoKey; authorization(): Promise<string> };

const OLD_KEY = 'sk-live-PINNED-OLD-5a6b7c8d9e0f1a2b';
const NEW_KEY = 'sk-live-DEFAULT-NEW-1f2e3d4c5b6a7988';

let h: Harness;
let app: ReturnType<typeof createControlPlaneApp>;
const logs: string[] = [];
let nodeA: Node;
let nodeB: Node;
let pinnedId: string;
let defaultId: string;

async function registerNode(id: string, options: { encryption: boolean }): Promise<Node> {
  const signing = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const encryption = await generateKeyPair('ECDH-ES', { crv: 'X25519', extractable: true });
  const body = {
    id,
    public_key_jwk: await exportJWK(signing.publicKey),
    ...(options.encryption ? { encryption_jwk: await exportJWK(encryption.publicKey) } : {}),
  };
  const res = await h.request('POST', '/v1/manage/edge-nodes', { token: h.ownerToken, body });
  expect(res.status).toBe(201);
  // The audit row names the key credentials will be sealed to.
  const audit = await h.testDb.db.query("SELECT after FROM audit_log WHERE action = 'edge_node.register' AND target_id = $1", [id]);
  expect(audit.rows[0]!.after.encryption_jwk).toEqual(options.encryption ? body.encryption_jwk : null);
  return {
    id,
    signing: signing.privateKey,
    decryption: encryption.privateKey,
    authorization: async () => `Bearer ${await signNodeToken(id, signing.privateKey, { nowSeconds: Math.floor(Date.now() / 1000) })}`,
  };
}

async function fetchSet(node: Node, etag?: string): Promise<{ status: number; etag: string | null; text: string }> {
  const res = await app.request('/node/v1/credentials', { headers: { authorization: await node.authorization(), ...(etag ? { 'if-none-match': etag } : {}) } });
  return { status: res.status, etag: res.headers.get('etag'), text: await res.text() };
}

async function manage<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await h.request(method, path, { token: h.ownerToken, ...(body === undefined ? {} : { body }) });
  expect(res.status, path).toBeLessThan(300);
  return (await res.json()) as T;
}

beforeAll(async () => {
  h = await createHarness();
  // The same database and KEKs as the harness, with a logger that keeps every line.
  const signing = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  app = createControlPlaneApp({
    db: h.testDb.db,
    manifest: createManifestPublisher({ db: h.testDb.db, signingKey: { kid: 't', privateKey: signing.privateKey }, ttlSeconds: 600, nowSeconds: () => Math.floor(Date.now() / 1000) }),
    now: () => new Date(),
    log: (level, msg, fields?: LogFields) => logs.push(JSON.stringify({ level, msg, ...fields })),
    credentialKeys: h.credentialKeys,
  });
  await h.seedModels([{ id: 'sealed-model', upstreamModel: 'up-1', inputPerMtok: 1, outputPerMtok: 1 }], { id: 'sealsup', region: 'EU' });
  pinnedId = (await manage<{ id: string }>('POST', '/v1/manage/suppliers/sealsup/credentials', { kind: 'api_key', api_key: OLD_KEY })).id;
  defaultId = (await manage<{ id: string }>('POST', '/v1/manage/suppliers/sealsup/credentials', { kind: 'api_key', api_key: NEW_KEY })).id;
  await manage('POST', '/v1/manage/models/sealed-model/routes', { supplier_id: 'sealsup', upstream_model: 'up-pinned', priority: 5, credential_id: pinnedId });
  nodeA = await registerNode(`seal-a-${Date.now() % 100000}`, { encryption: true });
  nodeB = await registerNode(`seal-b-${Date.now() % 100000}`, { encryption: true });
}, 60_000);
afterAll(() => h?.close());

describe('GET /node/v1/credentials', () => {
  it('refuses callers without a valid node token', async () => {
    expect((await app.request('/node/v1/credentials')).status).toBe(401);
    expect((await app.request('/node/v1/credentials', { headers: { authorization: `Bearer ${h.ownerToken}` } })).status).toBe(401);
  });

  it('answers 409 with a clear message to a node registered without an encryption key', async () => {
    const res = await app.request('/node/v1/credentials', { headers: { authorization: await h.nodeAuthorization() } });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/encryption key/);
  });

  it('refuses to register an encryption key that carries its private part', async () => {
    const pair = await generateKeyPair('ECDH-ES', { crv: 'X25519', extractable: true });
    const signing = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const res = await h.request('POST', '/v1/manage/edge-nodes', {
      token: h.ownerToken,
      body: { id: 'leaky-node', public_key_jwk: await exportJWK(signing.publicKey), encryption_jwk: await exportJWK(pair.privateKey) },
    });
    expect(res.status).toBe(422);
  });

  it("seals the default and the pinned credential to the caller's key only, bound to each credential", async () => {
    const res = await fetchSet(nodeA);
    expect(res.status).toBe(200);
    expect(res.text).not.toContain(OLD_KEY);
    expect(res.text).not.toContain(NEW_KEY);
    const set = JSON.parse(res.text) as SealedCredentialSet;
    expect(set.node_id).toBe(nodeA.id);
    const mine = set.credentials.filter((c) => c.supplier_id === 'sealsup');
    expect(mine.map((c) => [c.id, c.default])).toEqual([[pinnedId, false], [defaultId, true]]);

    const binding = (c: (typeof mine)[number], nodeId = nodeA.id) => ({ nodeId, credentialId: c.id, supplierId: c.supplier_id, version: c.version });
    expect(await openCredential(mine[0]!.jwe, nodeA.decryption, binding(mine[0]!))).toEqual({ ok: true, secret: OLD_KEY });
    expect(await openCredential(mine[1]!.jwe, nodeA.decryption, binding(mine[1]!))).toEqual({ ok: true, secret: NEW_KEY });
    // Another node's key opens nothing of node A's.
    expect(await openCredential(mine[1]!.jwe, nodeB.decryption, binding(mine[1]!, nodeB.id))).toEqual({ ok: false, reason: 'undecryptable' });
    // A JWE replayed under another credential's entry, or tampered, is refused.
    expect(await openCredential(mine[0]!.jwe, nodeA.decryption, binding(mine[1]!))).toEqual({ ok: false, reason: 'wrong_binding' });
    const parts = mine[1]!.jwe.split('.');
    parts[3] = (parts[3]!.startsWith('A') ? 'B' : 'A') + parts[3]!.slice(1);
    expect(await openCredential(parts.join('.'), nodeA.decryption, binding(mine[1]!))).toEqual({ ok: false, reason: 'undecryptable' });
    const header = JSON.parse(atob(parts[0]!.replace(/-/g, '+').replace(/_/g, '/')));
    expect(header).toMatchObject({ alg: 'ECDH-ES', enc: 'A256GCM', typ: 'taas-credential+jwe', cid: mine[1]!.id, sid: 'sealsup', nid: nodeA.id });

    const other = JSON.parse((await fetchSet(nodeB)).text) as SealedCredentialSet;
    const forB = other.credentials.find((c) => c.id === defaultId)!;
    expect(await openCredential(forB.jwe, nodeB.decryption, binding(forB, nodeB.id))).toEqual({ ok: true, secret: NEW_KEY });
    expect(await openCredential(forB.jwe, nodeA.decryption, binding(forB, nodeB.id))).toEqual({ ok: false, reason: 'undecryptable' });
  });

  it('answers 304 while nothing changed, and a new ETag after a rotation and after an OAuth renewal', async () => {
    const first = await fetchSet(nodeA);
    expect(first.etag).toMatch(/^".+"$/);
    expect((await fetchSet(nodeA, first.etag!)).status).toBe(304);

    // Rotation: a newer credential becomes the supplier's default.
    const rotated = await manage<{ id: string }>('POST', '/v1/manage/suppliers/sealsup/credentials', { kind: 'api_key', api_key: 'sk-live-ROTATED-00112233445566' });
    const second = await fetchSet(nodeA, first.etag!);
    expect(second.status).toBe(200);
    expect(second.etag).not.toBe(first.etag);
    const set = JSON.parse(second.text) as SealedCredentialSet;
    expect(set.credentials.filter((c) => c.default && c.supplier_id === 'sealsup').map((c) => c.id)).toEqual([rotated.id]);
    // The previous default is neither default nor pinned any more: it is no longer sent.
    expect(set.credentials.map((c) => c.id)).not.toContain(defaultId);

    // A renewal re-seals the secret in place (what the OAuth refresher does): same id, new version.
    await sealSecret(h.testDb.db, h.credentialKeys, rotated.id, 'secret', 'sk-live-RENEWED-99887766554433');
    const third = await fetchSet(nodeA, second.etag!);
    expect(third.status).toBe(200);
    expect(third.etag).not.toBe(second.etag);
    const renewed = (JSON.parse(third.text) as SealedCredentialSet).credentials.find((c) => c.id === rotated.id)!;
    expect(renewed.version).not.toBe(set.credentials.find((c) => c.id === rotated.id)!.version);
    expect(await openCredential(renewed.jwe, nodeA.decryption, { nodeId: nodeA.id, credentialId: renewed.id, supplierId: 'sealsup', version: renewed.version })).toEqual({
      ok: true,
      secret: 'sk-live-RENEWED-99887766554433',
    });
  });

  it('never writes a secret to the log', () => {
    const all = logs.join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [OLD_KEY, NEW_KEY, 'ROTATED', 'RENEWED']) expect(all).not.toContain(secret);
  });
});
