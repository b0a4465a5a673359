// Admission under concurrency, end to end: three edge processes on one control plane and one
// PostgreSQL, 1,000 requests at once against a key budget that allows exactly 50. Each request
// reserves its worst case (max_tokens 8 at 1 µUSD a token, input free) from leases the control
// plane grants atomically; the fake supplier writes exactly 8 tokens, so worst case and real cost
// are equal and the budget admits exactly 50: any more is overspend, any fewer a false 402.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCatalog } from '../../control-plane/demo-catalog.ts';
import { startFakeSupplier, type FakeSupplier } from '../../fake-supplier/server.ts';
import type { RunningEdge } from '../../scripts/edge-miniflare.ts';
import { postgresAvailable, type TestDatabase } from '../support/db.ts';
import { E2E_ACTOR, startE2eStack, type E2eStack } from '../support/e2e-stack.ts';
import { waitFor } from '../support/processes.ts';

const EDGES = 3;
const REQUESTS = 1_000;
const ALLOWED = 50;
const TOKENS = 8;
const PER_REQUEST_MICROS = TOKENS; // 1 µUSD per output token
const BUDGET_MICROS = ALLOWED * PER_REQUEST_MICROS;

describe.skipIf(!postgresAvailable())('budgets under concurrency, end to end', () => {
  let stack: E2eStack;
  let testDb: TestDatabase;
  let supplier: FakeSupplier;
  const edges: RunningEdge[] = [];
  let apiKey: { id: string; key: string };
  let orgId: string;

  beforeAll(async () => {
    supplier = await startFakeSupplier({ apiKey: 'sk-supplier-secret' });
    supplier.setBehaviour({ completionTokens: TOKENS, interChunkDelayMs: 5 });
    stack = await startE2eStack();
    testDb = stack.testDb;
    await seedCatalog(testDb.db, E2E_ACTOR, {
      supplier: { id: 'fake', name: 'Fake', format: 'openai', baseUrl: supplier.url, region: 'EU' },
      models: [{ id: 'budget-model', upstreamModel: 'fake-chat-1', inputPerMtok: 0, outputPerMtok: 1_000_000 }],
    });
    ({ orgId, key: apiKey } = await stack.orgWithKey('Budget org', { budget_limit: BUDGET_MICROS / 1_000_000, budget_period: 'monthly' }));
    for (let i = 0; i < EDGES; i++) {
      const { edge } = await stack.startNode({
        nodeId: `budget-node-${i}`,
        bindings: { MANIFEST_REFRESH_SECONDS: '0.5', SUPPLIER_KEYS: JSON.stringify({ fake: 'sk-supplier-secret' }) },
      });
      edges.push(edge);
    }
    // Every edge knows the model and the key before the burst.
    for (const edge of edges) {
      await waitFor(async () => (await fetch(`${edge.url}/v1/models`, { headers: { authorization: `Bearer ${apiKey.key}` } })).status === 200, { timeoutMs: 20_000 });
    }
  }, 180_000);

  afterAll(async () => {
    await stack?.close();
    await supplier?.close();
  });

  it(`admits exactly ${ALLOWED} of ${REQUESTS} concurrent requests over ${EDGES} edges: no overspend, no false 402`, async () => {
    const send = (i: number) =>
      fetch(`${edges[i % EDGES]!.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'budget-model', max_tokens: TOKENS, stream: i % 2 === 0, messages: [{ role: 'user', content: `request ${i}` }] }),
      }).then(async (res) => ({ status: res.status, body: await res.text() }));
    const results = await Promise.all(Array.from({ length: REQUESTS }, (_, i) => send(i)));

    const byStatus = new Map<number, number>();
    for (const r of results) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
    expect(Object.fromEntries(byStatus)).toEqual({ 200: ALLOWED, 402: REQUESTS - ALLOWED });
    const denial = JSON.parse(results.find((r) => r.status === 402)!.body) as { error: { code: string; message: string } };
    expect(denial.error.code).toBe('budget_exceeded');
    // A denied request causes no supplier call.
    expect(supplier.stats().byModel['fake-chat-1']).toBe(ALLOWED);

    // Every event is ingested: what the key spent is exactly its budget, and each success was billed.
    const spent = async () =>
      (
        await testDb.db.query<{ n: string; cost: string }>(
          `SELECT count(*) FILTER (WHERE status = 200)::text AS n, COALESCE(sum(cost_micros), 0)::text AS cost FROM usage_events WHERE key_id = $1`,
          [apiKey.id],
        )
      ).rows[0]!;
    await waitFor(async () => Number((await spent()).n) === ALLOWED, { timeoutMs: 20_000 });
    expect(Number((await spent()).cost)).toBe(BUDGET_MICROS);
    const rollup = await testDb.db.query<{ cost: string }>(`SELECT COALESCE(sum(cost_micros), 0)::text AS cost FROM usage_daily WHERE key_id = $1`, [apiKey.id]);
    expect(Number(rollup.rows[0]!.cost)).toBe(BUDGET_MICROS);
    const wallet = await testDb.db.query<{ balance: string }>(`SELECT balance_micros::text AS balance FROM ledger_accounts WHERE id = $1`, [`wallet:${orgId}`]);
    expect(Number(wallet.rows[0]!.balance)).toBe(100_000_000 - BUDGET_MICROS);
  }, 120_000);
});
