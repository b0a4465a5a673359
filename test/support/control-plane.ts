// An in-process control plane on a real test database: the app, its owner token, a registered
// edge node that can sign node-API tokens, and builders for members with a given role.

import { generateKeyPair, exportJWK, type CryptoKey } from 'jose';
import { generateToken, hashToken, tokenDisplayPrefix } from '../../shared/api-key.ts';
import { uuidv7 } from '../../shared/ids.ts';
import { acceptSigned } from '../../edge/manifest-chain.ts';
import { DEFAULT_MAX_MANIFEST_BYTES, type ManifestPayload } from '../../shared/manifest.ts';
import { signNodeToken } from '../../shared/node-token.ts';
import { createControlPlaneApp } from '../../control-plane/app.ts';
import { bootstrapOwner } from '../../control-plane/bootstrap.ts';
import { importKeyring, type Keyring } from '../../control-plane/credentials/keyring.ts';
import { seedCatalog, type DemoModel } from '../../control-plane/demo-catalog.ts';
import { silentLogger } from '../../control-plane/log.ts';
import { createManifestPublisher } from '../../control-plane/manifest/publisher.ts';
import { insertAdminToken, insertUser, type OrgRole, type PlatformRole } from '../../control-plane/sql/principals.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

export interface Harness {
  testDb: TestDatabase;
  app: ReturnType<typeof createControlPlaneApp>;
  ownerToken: string;
  manifestPublicKey: CryptoKey;
  nodeId: string;
  nodeAuthorization(): Promise<string>;
  request(method: string, path: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  addUser(options: { orgId?: string; orgRole?: OrgRole; platformRole?: PlatformRole }): Promise<{ userId: string; token: string }>;
  seedModels(models: DemoModel[], supplier?: { id: string; region: 'EU' | 'US' | 'APAC' }): Promise<void>;
  /** The KEKs the app seals provider credentials with (one random test KEK, id `test-kek-1`). */
  credentialKeys: Keyring;
  /** The manifest edges would get now, verified with the harness's public key. */
  manifest(): Promise<ManifestPayload>;
  close(): Promise<void>;
}

export async function createHarness(target?: 'postgres' | 'pglite', options: { manifestShardKeys?: number } = {}): Promise<Harness> {
  const testDb = await createTestDatabase(target ? { target } : {});
  const db = testDb.db;
  const now = () => new Date();
  const bootstrap = await bootstrapOwner(db, { email: 'owner@example.test', now: now() });
  const signing = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const manifest = createManifestPublisher({
    db,
    signingKey: { kid: 'test', privateKey: signing.privateKey },
    ttlSeconds: 600,
    nowSeconds: () => Math.floor(Date.now() / 1000),
    ...(options.manifestShardKeys ? { shardKeys: options.manifestShardKeys } : {}),
  });
  const credentialKeys = await importKeyring({ keks: { 'test-kek-1': crypto.getRandomValues(new Uint8Array(32)) }, activeKekId: 'test-kek-1' });
  const app = createControlPlaneApp({ db, manifest, now, log: silentLogger, credentialKeys });

  async function request(method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    }
    return app.request(path, { method, headers, ...(body === undefined ? {} : { body }) });
  }

  const nodeId = `edge-${uuidv7().slice(-8)}`;
  const nodeKeys = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const registered = await request('POST', '/v1/manage/edge-nodes', {
    token: bootstrap!.token,
    body: { id: nodeId, public_key_jwk: await exportJWK(nodeKeys.publicKey) },
  });
  if (registered.status !== 201) throw new Error(`node registration answered ${registered.status}`);

  return {
    testDb,
    app,
    ownerToken: bootstrap!.token,
    credentialKeys,
    manifestPublicKey: signing.publicKey,
    nodeId,
    nodeAuthorization: async () => `Bearer ${await signNodeToken(nodeId, nodeKeys.privateKey, { nowSeconds: Math.floor(Date.now() / 1000) })}`,
    request,
    async addUser({ orgId, orgRole, platformRole }) {
      const userId = uuidv7();
      const token = generateToken('admin_token');
      await db.transaction(async (tx) => {
        await insertUser(tx, { id: userId, email: `${userId}@example.test`, name: 'test user', platformRole: platformRole ?? null });
        await insertAdminToken(tx, { id: uuidv7(), userId, name: 'test', tokenHash: await hashToken(token), prefix: tokenDisplayPrefix(token) });
        if (orgId && orgRole) await tx.query('INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)', [orgId, userId, orgRole]);
      });
      return { userId, token };
    },
    async seedModels(models, supplier = { id: 'fake', region: 'EU' }) {
      await seedCatalog(db, { userId: null, tokenId: null, requestId: null, clientAddr: null }, {
        supplier: { id: supplier.id, name: supplier.id, format: 'openai', baseUrl: 'http://127.0.0.1:9/v1', region: supplier.region },
        models,
      });
    },
    async manifest() {
      const authorization = `Bearer ${await signNodeToken(nodeId, nodeKeys.privateKey, { nowSeconds: Math.floor(Date.now() / 1000) })}`;
      const res = await request('GET', '/node/v1/manifest', { headers: { authorization } });
      // Loaded by the edge's own code: the snapshot verified, its key shards fetched and checked.
      const accepted = await acceptSigned(
        await res.text(),
        null,
        { publicKeys: { test: signing.publicKey }, nowSeconds: Math.floor(Date.now() / 1000), maxBytes: DEFAULT_MAX_MANIFEST_BYTES },
        { read: async (ref) => (await request('GET', `/node/v1/manifest/shards/${ref.sha256}`, { headers: { authorization } })).text() },
      );
      if (!accepted.ok) throw new Error(`manifest rejected: ${accepted.reason}`);
      return accepted.held.manifest;
    },
    close: () => testDb.drop(),
  };
}
