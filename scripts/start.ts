// `npm start`: the whole gateway on one machine with no setup. Embedded PGlite (or DATABASE_URL),
// the control plane, the demo supplier, and the edge Worker under Miniflare (workerd). Prints a
// working key and a curl line; Ctrl-C stops everything.

import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { loadConfig } from '../control-plane/config.ts';
import { seedCatalog } from '../control-plane/demo-catalog.ts';
import type { Logger } from '../control-plane/log.ts';
import { jsonLogger } from '../control-plane/log.ts';
import { startControlPlane } from '../control-plane/server.ts';
import { startFakeSupplier } from '../fake-supplier/server.ts';
import { buildEdge } from './build-edge.ts';
import { startEdge } from './edge-miniflare.ts';
import { mintOwnerToken } from './owner-token.ts';
import { describeDatabase, loadOrCreateState, newLocalKek, newLocalNode, saveState } from './local-state.ts';
import { createDemoOrgAndKey, registerEdgeNode } from './manage-client.ts';

const STATE_FILE = '.taas/local.json';
const EDGE_STATE_DIR = '.taas/edge';
const PGLITE_DIR = process.env.PGLITE_DATA_DIR || '.taas/pgdata';
const EDGE_PORT = Number(process.env.EDGE_PORT || 7300);
const CP_PORT = Number(process.env.CP_PORT || 7301);
const SUPPLIER_PORT = Number(process.env.SUPPLIER_PORT || 7302);
const DEMO_MODEL = 'demo-model';

// Only warnings and errors: request logs would bury the banner.
const quietLog: Logger = (level, msg, fields) => {
  if (level !== 'info') jsonLogger(level, msg, fields);
};

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL || undefined;
  const { state, created } = await loadOrCreateState(STATE_FILE, describeDatabase(databaseUrl, PGLITE_DIR));
  // A new state cannot use an old embedded database: its owner token would be unknown.
  if (created && !databaseUrl) rmSync(PGLITE_DIR, { recursive: true, force: true });

  const supplier = await startFakeSupplier({ port: SUPPLIER_PORT });
  // Provider credentials are sealed with a local KEK kept in the state file, unless the caller
  // configured their own. A state file from before credentials existed gets one now, saved at
  // once: a KEK that sealed anything must never be lost.
  if (!state.credentialKek) {
    state.credentialKek = newLocalKek(randomBytes(3).toString('hex'));
    saveState(STATE_FILE, state);
  }
  const kekEnv = process.env.CREDENTIAL_KEKS
    ? {}
    : { CREDENTIAL_KEKS: JSON.stringify({ [state.credentialKek.id]: state.credentialKek.key }), CREDENTIAL_KEK_ACTIVE: state.credentialKek.id };
  const config = loadConfig({ ...process.env, ...kekEnv, CP_PORT: String(CP_PORT), PGLITE_DATA_DIR: PGLITE_DIR, MANIFEST_SIGNING_KEY: JSON.stringify(state.manifestKey.privateJwk) });
  const cp = await startControlPlane(config, { log: quietLog });
  state.adminToken = cp.bootstrapToken ?? state.adminToken ?? (await mintOwnerToken(cp.db, 'npm start'));

  await seedCatalog(cp.db, { userId: null, tokenId: null, requestId: null, clientAddr: 'npm start' }, {
    supplier: { id: 'demo', name: 'Demo supplier (local fake)', format: 'openai', baseUrl: supplier.url, region: 'EU' },
    models: [{ id: DEMO_MODEL, upstreamModel: 'fake-chat-1', inputPerMtok: 150_000, outputPerMtok: 600_000 }],
  });
  // A node from an older state file has no encryption key and cannot get one (registration is
  // once): start a new node identity so sealed credentials reach it.
  if (!state.node.encryption) state.node = await newLocalNode(randomBytes(3).toString('hex'));
  const encryption = state.node.encryption!;
  await registerEdgeNode(cp.url, state.adminToken, { id: state.node.id, publicJwk: state.node.keys.publicJwk, encryptionJwk: encryption.publicJwk });
  state.demo ??= await createDemoOrgAndKey(cp.url, state.adminToken, { orgName: 'Demo org', keyName: 'demo key' });

  const edge = await startEdge({
    bundle: await buildEdge(),
    port: EDGE_PORT,
    // The usage outbox and the manifest vault on disk: usage recorded before a Ctrl-C is delivered on the next start.
    persistDir: EDGE_STATE_DIR,
    bindings: {
      NODE_ID: state.node.id,
      NODE_PRIVATE_KEY: JSON.stringify(state.node.keys.privateJwk),
      NODE_ENCRYPTION_KEY: JSON.stringify(encryption.privateJwk),
      CONTROL_PLANE_URL: cp.url,
      MANIFEST_PUBLIC_KEYS: JSON.stringify({ [state.manifestKey.publicJwk.kid]: state.manifestKey.publicJwk }),
      EDGE_REGION: 'EU',
    },
  });
  state.urls = { edge: edge.url, controlPlane: cp.url, supplier: supplier.url };
  saveState(STATE_FILE, state);

  const body = JSON.stringify({ model: DEMO_MODEL, stream: true, messages: [{ role: 'user', content: 'Say hello' }] });
  process.stdout.write(
    [
      '',
      'TaaS gateway is running.',
      `  edge (OpenAI/Anthropic API)  ${edge.url}/v1`,
      `  control plane                ${cp.url}   database: ${cp.db.target === 'pglite' ? `embedded PGlite in ${PGLITE_DIR}` : 'PostgreSQL (DATABASE_URL)'}`,
      `  demo supplier                ${supplier.url}`,
      `  admin token                  ${state.adminToken}`,
      `  demo API key                 ${state.demo.key}`,
      '',
      'Try a streamed completion:',
      `  curl -N ${edge.url}/v1/chat/completions -H "Authorization: Bearer ${state.demo.key}" -H "Content-Type: application/json" -d '${body}'`,
      '',
      `Saved to ${STATE_FILE}. Ctrl-C stops everything.`,
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.allSettled([edge.close(), supplier.close()]);
    await cp.close().catch(() => {});
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`npm start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
