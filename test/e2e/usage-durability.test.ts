// The durable usage outbox with real processes: the control plane stopped while the edge serves
// (and the edge restarted meanwhile), the edge process killed with SIGKILL while requests
// stream and deliveries run, and the node killed while its outbox process was frozen (the events
// only in the usage journal's files). Every request whose client got the whole answer must have
// exactly one usage row (the end of an answer waits until its event is on disk:
// edge/record-usage.ts), and none may have two. Rows are read by id, request_id and key_id only.

import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCatalog } from '../../control-plane/demo-catalog.ts';
import { startFakeSupplier, type FakeSupplier } from '../../fake-supplier/server.ts';
import { postgresAvailable } from '../support/db.ts';
import { E2E_ACTOR, startE2eStack, type E2eStack, type EdgeNode } from '../support/e2e-stack.ts';
import { waitFor } from '../support/processes.ts';

const SUPPLIER_KEY = 'sk-durability-supplier';
/** Completions this close before the kill are reported apart (0: every completed answer must be billed). */
const RECENT_MS = 0;

describe.skipIf(!postgresAvailable())('durable usage outbox, end to end', () => {
  let stack: E2eStack;
  let supplier: FakeSupplier;
  let apiKey: { id: string; key: string };
  const dirs: string[] = [];

  beforeAll(async () => {
    supplier = await startFakeSupplier({ apiKey: SUPPLIER_KEY });
    stack = await startE2eStack();
    await seedCatalog(stack.testDb.db, E2E_ACTOR, {
      supplier: { id: 'fake', name: 'Fake', format: 'openai', baseUrl: supplier.url, region: 'EU' },
      models: [{ id: 'demo-model', upstreamModel: 'fake-chat-1', inputPerMtok: 150_000, outputPerMtok: 600_000 }],
    });
    ({ key: apiKey } = await stack.orgWithKey('Durability org', {}, 1000));
  }, 120_000);

  afterAll(async () => {
    await stack?.close();
    await supplier?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const persistDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'taas-outbox-'));
    dirs.push(dir);
    return dir;
  };
  const startNode = (nodeId: string, runtime: 'miniflare' | 'workerd', dir: string) =>
    stack.startNode({ nodeId, runtime, persistDir: dir, bindings: { SUPPLIER_KEYS: JSON.stringify({ fake: SUPPLIER_KEY }), MANIFEST_REFRESH_SECONDS: '0.5' } });

  const send = (node: EdgeNode, stream: boolean, signal?: AbortSignal) =>
    fetch(`${node.edge.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo-model', stream, messages: [{ role: 'user', content: 'count' }] }),
      ...(signal ? { signal } : {}),
    });

  /** One request read to its last byte; its request id once the client holds the whole answer. */
  async function complete(node: EdgeNode, stream: boolean): Promise<string> {
    const res = await send(node, stream);
    const body = await res.text();
    expect(res.status, body).toBe(200);
    if (stream) expect(body.trimEnd().endsWith('data: [DONE]')).toBe(true);
    return res.headers.get('x-request-id')!;
  }

  /** The usage journal's files in a node's state directory (edge/usage-journal.ts). */
  const journalFiles = (dir: string): string[] => (existsSync(join(dir, 'usage-journal')) ? readdirSync(join(dir, 'usage-journal')) : []);

  /** Usage rows per request id of this test's key. */
  async function rowsByRequest(): Promise<Map<string, number>> {
    const { rows } = await stack.testDb.db.query<{ request_id: string; n: number }>(
      'SELECT request_id, count(id)::int AS n FROM usage_events WHERE key_id = $1 GROUP BY request_id',
      [apiKey.id],
    );
    return new Map(rows.map((r) => [r.request_id, r.n]));
  }

  async function expectEachOnce(requestIds: string[], timeoutMs: number): Promise<Map<string, number>> {
    await waitFor(async () => {
      const rows = await rowsByRequest();
      return requestIds.every((id) => rows.has(id));
    }, { timeoutMs, intervalMs: 100 }).catch(async (err: unknown) => {
      const rows = await rowsByRequest();
      const missing = requestIds.map((id, i) => [i, id] as const).filter(([, id]) => !rows.has(id));
      throw new Error(`${String(err)}: ${missing.length} of ${requestIds.length} without a row: ${JSON.stringify(missing)}`);
    });
    // Give a duplicate delivery time to land before asserting there is none.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const rows = await rowsByRequest();
    for (const id of requestIds) expect(rows.get(id), id).toBe(1);
    expect([...rows.values()].every((n) => n === 1)).toBe(true);
    return rows;
  }

  it('delivers every event exactly once after the control plane was down, across an edge restart with no traffic after it', async () => {
    const dir = persistDir();
    let node = await startNode('outbox-cp-down', 'miniflare', dir);
    const warm = await complete(node, false); // manifest and allowance leases in hand
    await expectEachOnce([warm], 10_000);

    await stack.stopControlPlane();
    const served: string[] = [];
    for (let round = 0; round < 5; round++) {
      served.push(...(await Promise.all(Array.from({ length: 8 }, (_, i) => complete(node, i % 2 === 0)))));
    }
    expect(served).toHaveLength(40);
    // Let a few deliveries fail (backoff), then restart the edge process with the control plane still down.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    node = await stack.restartNode(node, { runtime: 'miniflare', persistDir: dir });

    await stack.startControlPlane();
    // No request reaches the restarted edge: its persisted alarm alone delivers what it held.
    await expectEachOnce(served, 90_000);
    // The outbox took every event, so the journal kept none.
    expect(journalFiles(dir)).toEqual([]);
  }, 150_000);

  it('loses no completed request and counts none twice when the edge process is killed with SIGKILL', async () => {
    const dir = persistDir();
    let node = await startNode('outbox-sigkill', 'workerd', dir);
    const completed: string[] = [await complete(node, true)];
    await expectEachOnce(completed, 10_000);

    // Round 1: the control plane is down, so every event is still on the edge's disk when it dies.
    await stack.stopControlPlane();
    for (let round = 0; round < 4; round++) completed.push(...(await Promise.all(Array.from({ length: 5 }, (_, i) => complete(node, i % 2 === 0)))));
    const inFlight = await startSlowStreams(node, 6);
    process.kill(-node.edge.pid!, 'SIGKILL');
    await inFlight.ended;
    node = await stack.restartNode(node, { runtime: 'workerd', persistDir: dir });
    await stack.startControlPlane();
    await expectEachOnce(completed, 90_000);
    const rows1 = await rowsByRequest();
    const unbilled1 = inFlight.ids.filter((id) => !rows1.has(id)).length;

    // Round 2: the control plane is up and deliveries run while requests complete; the kill
    // lands in the middle (some batches sent and not yet deleted are sent again after the restart).
    const round2: { id: string; atMs: number }[] = [];
    let killed = false;
    // Four clients in a loop; an id is kept only once its client read the whole answer.
    const load = Promise.allSettled(
      Array.from({ length: 4 }, async (_, worker) => {
        for (let i = 0; !killed; i++) {
          const id = await complete(node, (worker + i) % 2 === 0);
          round2.push({ id, atMs: Date.now() });
        }
      }),
    );
    await waitFor(async () => round2.length >= 40, { timeoutMs: 60_000, intervalMs: 5 });
    const inFlight2 = await startSlowStreams(node, 4);
    await waitFor(async () => round2.length >= 80, { timeoutMs: 60_000, intervalMs: 1 });
    killed = true;
    process.kill(-node.edge.pid!, 'SIGKILL');
    const killedMs = Date.now();
    await load; // requests in flight at the kill fail at the client
    await inFlight2.ended;
    node = await stack.restartNode(node, { runtime: 'workerd', persistDir: dir });
    // The last bytes of an answer wait for its event's append (edge/record-usage.ts), so every
    // answer a client received in full before the kill is on disk: all are asserted.
    const settled = round2.filter((r) => r.atMs <= killedMs - RECENT_MS).map((r) => r.id);
    const recent = round2.filter((r) => r.atMs > killedMs - RECENT_MS).map((r) => r.id);
    await expectEachOnce([...completed, ...settled], 90_000);
    const rows2 = await rowsByRequest();
    const unbilled2 = inFlight2.ids.filter((id) => !rows2.has(id)).length;
    const recentLost = recent.filter((id) => !rows2.has(id)).length;
    process.stdout.write(
      `usage durability: round 1 ${completed.length - 1} completed, 0 lost, ${unbilled1}/${inFlight.ids.length} in-flight streams without a row; ` +
        `round 2 ${settled.length} completed ≥${RECENT_MS} ms before the kill, 0 lost, 0 twice; ${recentLost}/${recent.length} completed within ${RECENT_MS} ms of it without a row; ` +
        `${unbilled2}/${inFlight2.ids.length} in-flight streams without a row\n`,
    );
  }, 240_000);

  it('keeps every answer when the outbox process alone dies: the edge holds the events until it is back', async () => {
    // On plain workerd the outbox is a process of its own (scripts/edge-workerd.ts restarts it, as
    // the cluster restarts its container); the edge serving requests must outlive it.
    const dir = persistDir();
    const node = await startNode('outbox-process-kill', 'workerd', dir);
    const before = await Promise.all(Array.from({ length: 6 }, (_, i) => complete(node, i % 2 === 0)));
    await expectEachOnce(before, 10_000);

    const ready = async () => (await fetch(`${node.edge.url}/readyz`)).status;
    expect(await ready()).toBe(200);
    const first = node.edge.outboxPid!()!;
    process.kill(first, 'SIGKILL');
    // Not ready while it is down (it is restarted after 1 s): the cluster sends traffic elsewhere.
    await waitFor(async () => (await ready()) === 503, { timeoutMs: 900, intervalMs: 20 });
    // Answers completed while it is down or restarting: each ends once its event is in the journal,
    // those past the busy threshold too (the supplier answers them together, so more than 4 wait
    // at once): an append that fails sends the events waiting for it to the journal.
    const startedMs = Date.now();
    supplier.setBehaviour({ firstByteDelayMs: 100 });
    const during = await Promise.all(Array.from({ length: 20 }, (_, i) => complete(node, i % 2 === 0)));
    supplier.setBehaviour({ firstByteDelayMs: 0 });
    const waitedMs = Date.now() - startedMs;
    // The outbox process is back ~1 s after the kill at the soonest: none of them waited for it.
    expect(waitedMs).toBeLessThan(900);
    await waitFor(async () => node.edge.outboxPid!() !== first, { timeoutMs: 10_000, intervalMs: 20 });
    const after = await Promise.all(Array.from({ length: 4 }, (_, i) => complete(node, i % 2 === 0)));
    await expectEachOnce([...before, ...during, ...after], 30_000);
    await waitFor(async () => (await ready()) === 200, { timeoutMs: 10_000, intervalMs: 50 });
    process.stdout.write(`usage durability: outbox process killed alone, ${during.length} answers completed meanwhile within ${waitedMs} ms, 0 lost, 0 twice\n`);
    await node.edge.close();
  }, 120_000);

  it('bills the answers that ended while the outbox process was frozen after the node is killed: from the journal', async () => {
    // SIGSTOP, not SIGKILL: a frozen outbox process takes no append and is not restarted, so the
    // events of the answers below are in the journal's files alone when the node dies.
    const dir = persistDir();
    let node = await startNode('outbox-frozen', 'workerd', dir);
    const warm = await complete(node, false);
    await expectEachOnce([warm], 10_000);

    const frozen = node.edge.outboxPid!()!;
    process.kill(frozen, 'SIGSTOP');
    const startedMs = Date.now();
    // All at once: past 4 requests waiting, a busy node leaves events to the outbox's append
    // (edge/usage-outbox.ts, JOURNAL_MAX_WAITING), which is frozen here; once that append has
    // been out for a second, their events go to the journal too.
    // The supplier answers them together, so more than 4 wait for their events at once.
    supplier.setBehaviour({ firstByteDelayMs: 100 });
    const answered = await Promise.all(Array.from({ length: 30 }, (_, i) => complete(node, i % 2 === 0)));
    supplier.setBehaviour({ firstByteDelayMs: 0 });
    const waitedMs = Date.now() - startedMs;
    // Without the journal, or for the events past the threshold before, an answer's end would wait for the outbox, up to 30 s.
    expect(waitedMs).toBeLessThan(10_000);
    expect(journalFiles(dir).length).toBeGreaterThan(0);
    process.kill(-node.edge.pid!, 'SIGKILL'); // the stopped process dies too
    node = await stack.restartNode(node, { runtime: 'workerd', persistDir: dir });
    // The restarted node reads the journal from its first readiness check, with no traffic.
    await waitFor(async () => (await fetch(`${node.edge.url}/readyz`)).status === 200, { timeoutMs: 20_000, intervalMs: 100 });
    await expectEachOnce([warm, ...answered], 60_000);
    await waitFor(async () => journalFiles(dir).length === 0, { timeoutMs: 10_000, intervalMs: 100 });
    process.stdout.write(`usage durability: outbox frozen, ${answered.length} answers ended within ${waitedMs} ms, node killed: 0 lost, 0 twice, journal emptied\n`);
    await node.edge.close();
  }, 120_000);

  /** Streams that have their first chunk and take seconds more: in flight when the process dies. */
  async function startSlowStreams(node: EdgeNode, count: number): Promise<{ ids: string[]; ended: Promise<unknown> }> {
    supplier.setBehaviour({ interChunkDelayMs: 200, completionTokens: 100 });
    const started = await Promise.all(
      Array.from({ length: count }, async () => {
        const res = await send(node, true);
        const reader = res.body!.getReader();
        await reader.read();
        return { id: res.headers.get('x-request-id')!, reader };
      }),
    );
    supplier.setBehaviour({ interChunkDelayMs: 0, completionTokens: 8 });
    const ended = Promise.allSettled(
      started.map(async ({ reader }) => {
        for (;;) if ((await reader.read()).done) throw new Error('a slow stream ended before the kill');
      }),
    );
    return { ids: started.map((s) => s.id), ended };
  }
});
