// The gateway for the benchmark, brought up like `npm start` but on its own ports and with its own
// throwaway state: fresh keys, PGlite in a temp dir (or DATABASE_URL), the fake supplier as a
// child process, the control plane in this process, the edge bundle under Miniflare (workerd).

import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../control-plane/config.ts';
import type { Actor } from '../control-plane/audit.ts';
import type { Database, DatabaseTarget } from '../control-plane/db.ts';
import { seedCatalog } from '../control-plane/demo-catalog.ts';
import type { Logger } from '../control-plane/log.ts';
import { startControlPlane } from '../control-plane/server.ts';
import { buildEdge } from '../scripts/build-edge.ts';
import { startEdge } from '../scripts/edge-miniflare.ts';
import { startWorkerdEdge } from '../scripts/edge-workerd.ts';
import { generateEd25519 } from '../scripts/keys.ts';
import { mintOwnerToken } from '../scripts/owner-token.ts';
import { createDemoOrgAndKey, registerEdgeNode } from '../scripts/manage-client.ts';
import { forkChild } from './children.ts';
import { startIngestionGate, type IngestionGate } from './ingestion-gate.ts';

/**
 * BENCH_DURABLE_ANSWERS → the edges' USAGE_DURABLE_BEFORE_END: 'true' (default: the end of an answer
 * waits for its journal file), 'commit' (for the outbox's synced commit), 'false' (no wait).
 */
export function durableAnswersSetting(): 'true' | 'commit' | 'false' {
  const value = process.env.BENCH_DURABLE_ANSWERS ?? 'true';
  if (value !== 'true' && value !== 'commit' && value !== 'false') throw new Error('BENCH_DURABLE_ANSWERS must be true, commit or false');
  return value;
}

export interface StackPorts {
  edge: number;
  /** The same edge on plain workerd. */
  plainEdge: number;
  controlPlane: number;
  supplier: number;
}

export interface Stack {
  edgeUrl: string;
  plainEdgeUrl: string;
  plainEdgePid: number;
  /** The plain-workerd edge's recent log lines, to explain failed requests. */
  plainEdgeLogs: () => string;
  comparison?: { url: string; pid: number; logs: () => string };
  /** Origin of the fake supplier (its API is under /v1). */
  supplierOrigin: string;
  supplierPid: number;
  /** With `supplierTimings`: each exchange's arrival and answer time at the supplier (monotonic ns) since the last call, in order. */
  takeSupplierTimings?: () => Promise<[bigint, bigint][]>;
  /** The model the edge serves, and the supplier's name for it. */
  model: string;
  upstreamModel: string;
  /** A customer API key of the edge. Never printed. */
  apiKey: string;
  keyId: string;
  db: Database;
  database: DatabaseTarget;
  /** With `ingestionGatePort`: holds the control plane's usage ingestion back while the edge is measured. */
  ingestion?: IngestionGate;
  /** SHA-256 of the edge bundle that ran: the edge changes often, results name their code. */
  edgeBundleSha256: string;
  close(): Promise<void>;
}

const SUPPLIER_ENTRY = fileURLToPath(new URL('./supplier-process.ts', import.meta.url));
const ACTOR: Actor = { userId: null, tokenId: null, requestId: null, clientAddr: 'npm run bench' };

// Warnings and errors only, and on stderr: stdout carries the results table.
const quietLog: Logger = (level, msg, fields) => {
  if (level !== 'info') process.stderr.write(JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields }) + '\n');
};

/**
 * Extra keys in the manifest the edges load, so memory and per-request costs are measured with a
 * realistic manifest (issue 4 asks for RSS with 100k keys). Inserted in one statement; their raw
 * secrets never exist (the hashes are of throwaway strings).
 */
async function addBulkKeys(db: Database, orgId: string, count: number): Promise<void> {
  if (count <= 0) return;
  await db.query(
    `INSERT INTO api_keys (id, org_id, name, key_hash, prefix)
     SELECT gen_random_uuid(), $1::uuid, 'bulk', encode(sha256(convert_to('bench-bulk-' || $1::text || '-' || g, 'UTF8')), 'hex'), 'taas_bulk'
       FROM generate_series(1, $2::int) AS g`,
    [orgId, count],
  );
}

/** The supplier child's timings since the last call (bench/supplier-process.ts --timings). */
async function takeTimings(child: ChildProcess): Promise<[bigint, bigint][]> {
  const answer = new Promise<[string, string][]>((resolve) => {
    const onMessage = (message: { timings?: [string, string][] }): void => {
      if (!message.timings) return;
      child.off('message', onMessage);
      resolve(message.timings);
    };
    child.on('message', onMessage);
  });
  child.send({ take: 'timings' });
  return (await answer).map(([arrived, answered]) => [BigInt(arrived), BigInt(answered)]);
}

export async function startStack(
  ports: StackPorts,
  edgeBindings: { MANIFEST_REFRESH_SECONDS: string; MANIFEST_MAX_STALE_SECONDS: string; USAGE_DURABLE_BEFORE_END: string },
  options: {
    manifestKeys: number;
    plainEdgeInspectorAddr?: string;
    /** Another build of the edge (e.g. the last commit's) on plain workerd beside this one, for A/B runs; `bindings` override the edges' own. */
    comparison?: { bundle: string; port: number; outboxProcess?: boolean; v8Flags?: string[]; bindings?: Record<string, string>; journalDir?: string };
    /** The fake supplier keeps each exchange's times (bench/breakdown.ts). */
    supplierTimings?: boolean;
    /** The edges reach the control plane through a gate that can hold usage ingestion back (bench/ingestion-gate.ts), on this port. */
    ingestionGatePort?: number;
  },
): Promise<Stack> {
  const closers: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    for (const closer of closers.reverse()) await closer().catch((err: unknown) => process.stderr.write(`bench cleanup: ${String(err)}\n`));
  };
  try {
    const stateDir = mkdtempSync(join(tmpdir(), 'taas-bench-'));
    const removeState = (): void => rmSync(stateDir, { recursive: true, force: true });
    // Also when Miniflare's own signal handler ends the process before close() can run.
    process.once('exit', removeState);
    closers.push(async () => removeState());
    const suffix = randomBytes(4).toString('hex');
    const manifestKey = await generateEd25519(`bench-${suffix}`);
    const nodeId = `bench-edge-${suffix}`;
    const nodeKeys = await generateEd25519(nodeId);

    const supplier = await forkChild(SUPPLIER_ENTRY, [String(ports.supplier), ...(options.supplierTimings ? ['--timings'] : [])]);
    closers.push(supplier.stop);
    const supplierOrigin = new URL(supplier.firstLine).origin;

    const databaseUrl = process.env.DATABASE_URL || undefined;
    const config = loadConfig({
      CP_PORT: String(ports.controlPlane),
      PGLITE_DATA_DIR: join(stateDir, 'pgdata'),
      MANIFEST_SIGNING_KEY: JSON.stringify(manifestKey.privateJwk),
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    });
    const cp = await startControlPlane(config, { log: quietLog });
    closers.push(cp.close);
    const adminToken = cp.bootstrapToken ?? (await mintOwnerToken(cp.db, 'npm run bench'));

    const model = 'bench-model';
    const upstreamModel = 'fake-chat-1';
    // Its own supplier id, so a shared DATABASE_URL keeps `npm start`'s demo supplier as it was.
    await seedCatalog(cp.db, ACTOR, {
      supplier: { id: 'bench', name: 'Benchmark supplier (local fake)', format: 'openai', baseUrl: `${supplierOrigin}/v1`, region: 'EU' },
      models: [{ id: model, upstreamModel, inputPerMtok: 150_000, outputPerMtok: 600_000 }],
    });
    await registerEdgeNode(cp.url, adminToken, { id: nodeId, publicJwk: nodeKeys.publicJwk });
    const demo = await createDemoOrgAndKey(cp.url, adminToken, { orgName: `bench ${new Date().toISOString()}`, keyName: 'bench key' });
    await addBulkKeys(cp.db, demo.orgId, options.manifestKeys);
    const ingestion = options.ingestionGatePort === undefined ? undefined : await startIngestionGate(cp.url, options.ingestionGatePort);
    if (ingestion) closers.push(ingestion.close);

    const bundle = await buildEdge();
    const edgeBundleSha256 = createHash('sha256').update(readFileSync(bundle)).digest('hex');
    const edgeBindingsFor = () => ({
      NODE_ID: nodeId,
      NODE_PRIVATE_KEY: JSON.stringify(nodeKeys.privateJwk),
      CONTROL_PLANE_URL: ingestion?.url ?? cp.url,
      MANIFEST_PUBLIC_KEYS: JSON.stringify({ [manifestKey.publicJwk.kid]: manifestKey.publicJwk }),
      EDGE_REGION: 'EU',
      ...edgeBindings,
    });
    const edge = await startEdge({ bundle, port: ports.edge, bindings: edgeBindingsFor() });
    closers.push(edge.close);
    // The same node on plain `workerd serve`, the production path (replicas share a node identity).
    const plainEdge = await startWorkerdEdge({
      bundle,
      port: ports.plainEdge,
      bindings: edgeBindingsFor(),
      ...(options.plainEdgeInspectorAddr ? { inspectorAddr: options.plainEdgeInspectorAddr } : {}),
    });
    closers.push(plainEdge.close);
    const comparison = options.comparison
      ? await startWorkerdEdge({
          bundle: options.comparison.bundle,
          port: options.comparison.port,
          bindings: { ...edgeBindingsFor(), ...options.comparison.bindings },
          ...(options.comparison.outboxProcess === undefined ? {} : { outboxProcess: options.comparison.outboxProcess }),
          ...(options.comparison.v8Flags ? { v8Flags: options.comparison.v8Flags } : {}),
          ...(options.comparison.journalDir ? { journalDir: options.comparison.journalDir } : {}),
        })
      : undefined;
    if (comparison) closers.push(comparison.close);

    return {
      edgeUrl: edge.url,
      plainEdgeUrl: plainEdge.url,
      plainEdgePid: plainEdge.pid ?? 0,
      plainEdgeLogs: plainEdge.logTail ?? (() => ''),
      ...(comparison ? { comparison: { url: comparison.url, pid: comparison.pid ?? 0, logs: comparison.logTail ?? (() => '') } } : {}),
      ...(ingestion ? { ingestion } : {}),
      supplierOrigin,
      supplierPid: supplier.pid,
      ...(options.supplierTimings ? { takeSupplierTimings: () => takeTimings(supplier.process) } : {}),
      model,
      upstreamModel,
      apiKey: demo.key,
      keyId: demo.keyId,
      db: cp.db,
      database: cp.db.target,
      edgeBundleSha256,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
