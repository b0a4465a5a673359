// The real-process stack end-to-end tests share: a cloned PostgreSQL database, the control plane
// as its own Node process, the edge bundle, and edge nodes (registered through the management
// API, each with its own keys) under Miniflare or plain workerd. Tests add their own suppliers,
// catalog and keys on top.

import type { Actor } from '../../control-plane/audit.ts';
import { buildEdge } from '../../scripts/build-edge.ts';
import { startEdge, type EdgeBindings, type RunningEdge } from '../../scripts/edge-miniflare.ts';
import { startWorkerdEdge } from '../../scripts/edge-workerd.ts';
import { generateEd25519, generateX25519 } from '../../scripts/keys.ts';
import { manage, registerEdgeNode } from '../../scripts/manage-client.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { freePort, spawnControlPlane, type ControlPlaneProcess } from './processes.ts';

/** `workerd`: the production layout, edge and outbox in two processes; `workerd-one-process`: the outbox inside the edge's. */
export type EdgeRuntime = 'miniflare' | 'workerd' | 'workerd-one-process';

/** The actor of fixtures written straight to the database (the catalog seed). */
export const E2E_ACTOR: Actor = { userId: null, tokenId: null, requestId: null, clientAddr: 'e2e' };

export interface EdgeNode {
  edge: RunningEdge;
  /** Everything needed to start the same node again (a restart). */
  bindings: EdgeBindings;
}

export interface E2eStack {
  testDb: TestDatabase;
  cp: ControlPlaneProcess;
  adminToken: string;
  /** Registers a node and starts it; nodes are stopped by close(). */
  startNode(options: { nodeId: string; runtime?: EdgeRuntime; encryption?: boolean; bindings?: Partial<EdgeBindings>; persistDir?: string }): Promise<EdgeNode>;
  /** Starts an already registered node again (same identity, same persisted state). */
  restartNode(node: EdgeNode, options: { runtime?: EdgeRuntime; persistDir?: string }): Promise<EdgeNode>;
  /** An org credited with `walletUsd` (default $100) and one key with this policy. */
  orgWithKey(orgName: string, key?: Record<string, unknown>, walletUsd?: number): Promise<{ orgId: string; key: { id: string; key: string } }>;
  /** Stops the control plane (tests of an edge cut off from it). */
  stopControlPlane(): Promise<void>;
  /** Starts it again after stopControlPlane: same database, port and signing key. */
  startControlPlane(): Promise<void>;
  close(): Promise<void>;
}

export async function startE2eStack(options: { controlPlaneEnv?: Record<string, string> } = {}): Promise<E2eStack> {
  const testDb = await createTestDatabase({ target: 'postgres' });
  const manifestKey = await generateEd25519('e2e');
  const cpEnv = {
    DATABASE_URL: testDb.url!,
    CP_PORT: String(await freePort()),
    MANIFEST_SIGNING_KEY: JSON.stringify(manifestKey.privateJwk),
    // Shards of 2 keys: every end-to-end run with more keys than that loads its snapshots (and
    // restarts from the vault) through key shards, the path 100k+ key manifests take.
    MANIFEST_SHARD_KEYS: '2',
    ...options.controlPlaneEnv,
  };
  let cp = await spawnControlPlane(cpEnv);
  const adminToken = cp.bootstrapToken!;
  const bundle = await buildEdge();
  const running = new Set<RunningEdge>();

  async function launch(bindings: EdgeBindings, runtime: EdgeRuntime, persistDir: string | undefined): Promise<RunningEdge> {
    // Port 0: workerd binds any free port and reports it, so no other process's outbound
    // connection can take a port chosen in advance (ERR_ADDRESS_IN_USE, seen once in CI).
    const options = { bundle, port: 0, bindings, ...(persistDir ? { persistDir } : {}) };
    const edge = runtime === 'miniflare' ? await startEdge(options) : await startWorkerdEdge({ ...options, outboxProcess: runtime === 'workerd' });
    running.add(edge);
    return edge;
  }

  return {
    testDb,
    get cp() {
      return cp;
    },
    adminToken,
    async startNode({ nodeId, runtime = 'miniflare', encryption = false, bindings = {}, persistDir }) {
      const signing = await generateEd25519(nodeId);
      const sealing = encryption ? await generateX25519(nodeId) : null;
      await registerEdgeNode(cp.url, adminToken, { id: nodeId, publicJwk: signing.publicJwk, ...(sealing ? { encryptionJwk: sealing.publicJwk } : {}) });
      const all: EdgeBindings = {
        NODE_ID: nodeId,
        NODE_PRIVATE_KEY: JSON.stringify(signing.privateJwk),
        CONTROL_PLANE_URL: cp.url,
        MANIFEST_PUBLIC_KEYS: JSON.stringify({ [manifestKey.publicJwk.kid]: manifestKey.publicJwk }),
        ...(sealing ? { NODE_ENCRYPTION_KEY: JSON.stringify(sealing.privateJwk) } : {}),
        ...bindings,
      };
      return { edge: await launch(all, runtime, persistDir), bindings: all };
    },
    async restartNode(node, { runtime = 'miniflare', persistDir }) {
      await node.edge.close();
      running.delete(node.edge);
      return { edge: await launch(node.bindings, runtime, persistDir), bindings: node.bindings };
    },
    async orgWithKey(orgName, key = {}, walletUsd = 100) {
      const orgId = (await manage<{ id: string }>(cp.url, adminToken, 'POST', '/v1/manage/orgs', { name: orgName })).id;
      // Wallets are prepaid: an org without credit is answered 402.
      if (walletUsd > 0) {
        await manage(cp.url, adminToken, 'POST', `/v1/manage/orgs/${orgId}/wallet/adjustments`, { amount_usd: walletUsd, kind: 'adjustment', memo: 'e2e credit' });
      }
      const created = await manage<{ id: string; key: string }>(cp.url, adminToken, 'POST', '/v1/manage/keys', { org_id: orgId, name: `${orgName} key`, ...key });
      return { orgId, key: created };
    },
    stopControlPlane: () => cp.stop(),
    async startControlPlane() {
      cp = await spawnControlPlane(cpEnv);
    },
    async close() {
      for (const edge of running) await edge.close().catch(() => {});
      await cp.stop();
      await testDb.drop();
    },
  };
}
