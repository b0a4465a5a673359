// Requests that wait for a lease, on plain workerd, where each request has a context of its own:
// the sync round that admits them runs in the waitUntil of whichever request started it, and
// workerd drops a request context's timers once that request is done. A request admitted in
// another's round must still keep its lease alive itself (edge/allowances.ts `begin`): here a
// short request starts the round for five long streams, finishes at once, and the streams' lease
// must still be extended (every 10 s) while they run, or the control plane would release its
// hold after 30 s under requests that are still spending it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCatalog } from '../../control-plane/demo-catalog.ts';
import { LEASE_HOLD_MS } from '../../control-plane/allowances.ts';
import { startFakeSupplier, type FakeSupplier } from '../../fake-supplier/server.ts';
import { postgresAvailable } from '../support/db.ts';
import { E2E_ACTOR, startE2eStack, type E2eStack } from '../support/e2e-stack.ts';
import { waitFor } from '../support/processes.ts';

const LONG_TOKENS = 120;
const CHUNK_DELAY_MS = 100; // a long stream takes ~12 s, past the first 10 s extension

describe.skipIf(!postgresAvailable())('requests admitted while waiting for a lease (plain workerd)', () => {
  let stack: E2eStack;
  let supplier: FakeSupplier;
  let apiKey: { id: string; key: string };

  beforeAll(async () => {
    supplier = await startFakeSupplier({ apiKey: 'sk-supplier-secret' });
    supplier.setBehaviour({ completionTokens: LONG_TOKENS, interChunkDelayMs: CHUNK_DELAY_MS });
    stack = await startE2eStack();
    await seedCatalog(stack.testDb.db, E2E_ACTOR, {
      supplier: { id: 'fake', name: 'Fake', format: 'openai', baseUrl: supplier.url, region: 'EU' },
      models: [{ id: 'wait-model', upstreamModel: 'fake-chat-1', inputPerMtok: 1_000_000, outputPerMtok: 1_000_000 }],
    });
    ({ key: apiKey } = await stack.orgWithKey('Waiting org'));
  }, 180_000);

  afterAll(async () => {
    await stack?.close();
    await supplier?.close();
  });

  it('keeps the lease of long streams alive when the request whose round admitted them has ended', async () => {
    const nodeId = 'waiting-node';
    const { edge } = await stack.startNode({ nodeId, runtime: 'workerd', bindings: { SUPPLIER_KEYS: JSON.stringify({ fake: 'sk-supplier-secret' }) } });
    await waitFor(async () => (await fetch(`${edge.url}/v1/models`, { headers: { authorization: `Bearer ${apiKey.key}` } })).status === 200, { timeoutMs: 20_000 });
    const send = (maxTokens: number) =>
      fetch(`${edge.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'wait-model', max_tokens: maxTokens, stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
      }).then(async (res) => ({ status: res.status, text: await res.text() }));

    // The short one is first: it finds no lease and starts the round; the long ones join it.
    const short = send(1);
    await new Promise((resolve) => setTimeout(resolve, 2));
    const long = Array.from({ length: 5 }, () => send(LONG_TOKENS));
    expect((await short).status).toBe(200);

    const results = await Promise.all(long);
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.text).toContain('[DONE]');
    }
    // One lease (the burst shared one round); extended while the streams ran past 10 s.
    const { rows } = await stack.testDb.db.query<{ held_ms: number }>(
      `SELECT extract(epoch FROM expires_at - granted_at) * 1000 AS held_ms FROM allowance_leases WHERE node_id = $1`,
      [nodeId],
    );
    expect(rows).toHaveLength(1);
    expect(Number(rows[0]!.held_ms)).toBeGreaterThan(LEASE_HOLD_MS + 5_000);
  }, 60_000);
});
