// End to end with real processes: the control plane as its own Node process on a real
// PostgreSQL, the edge Worker under Miniflare and again on plain `workerd serve` (the production
// path, edge and usage outbox in two processes, and once more with the outbox in the edge's), the fake supplier, and the official OpenAI SDK as the client. Everything talks real
// HTTP on loopback. The supplier's key is a credential created through the management API: it
// reaches the edge only sealed to the node's X25519 key (the edge has no SUPPLIER_KEYS).

import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKekBase64 } from '../../control-plane/credentials/keyring.ts';
import { seedCatalog } from '../../control-plane/demo-catalog.ts';
import { startFakeSupplier, type FakeSupplier } from '../../fake-supplier/server.ts';
import type { RunningEdge } from '../../scripts/edge-miniflare.ts';
import { manage } from '../../scripts/manage-client.ts';
import { postgresAvailable, type TestDatabase } from '../support/db.ts';
import { E2E_ACTOR, startE2eStack, type E2eStack } from '../support/e2e-stack.ts';
import { waitFor } from '../support/processes.ts';

const MARKER = 'PROMPT-MARKER-7f3a';

// The audit assertions need SQL access to the control plane's database, which only a real
// PostgreSQL shared between processes gives; without one this file says so and skips.
describe.skipIf(!postgresAvailable()).each(['miniflare', 'workerd', 'workerd-one-process'] as const)('walking skeleton, end to end on %s', (runtime) => {
  let stack: E2eStack;
  let testDb: TestDatabase;
  let supplier: FakeSupplier;
  let edge: RunningEdge;
  let adminToken: string;
  let orgId: string;
  let apiKey: { id: string; key: string };

  beforeAll(async () => {
    supplier = await startFakeSupplier({ apiKey: 'sk-supplier-secret' });
    supplier.setBehaviour({ completionTokens: 12 });
    stack = await startE2eStack({ controlPlaneEnv: { CREDENTIAL_KEKS: JSON.stringify({ e2e: generateKekBase64() }) } });
    ({ testDb, adminToken } = stack);
    expect(adminToken).toMatch(/^tpat_/);

    await seedCatalog(testDb.db, E2E_ACTOR, {
      supplier: { id: 'fake', name: 'Fake', format: 'openai', baseUrl: supplier.url, region: 'EU' },
      models: [{ id: 'demo-model', upstreamModel: 'fake-chat-1', inputPerMtok: 150_000, outputPerMtok: 600_000 }],
    });
    await manage(stack.cp.url, adminToken, 'POST', '/v1/manage/suppliers/fake/credentials', { kind: 'api_key', api_key: 'sk-supplier-secret' });
    ({ orgId, key: apiKey } = await stack.orgWithKey('E2E org', { allowed_models: ['demo-model'] }));
    ({ edge } = await stack.startNode({
      nodeId: 'e2e-node',
      runtime,
      encryption: true,
      bindings: { CREDENTIAL_REFRESH_SECONDS: '0.5', MANIFEST_REFRESH_SECONDS: '0.5' },
    }));
  }, 120_000);

  afterAll(async () => {
    await stack?.close();
    await supplier?.close();
  });

  const client = () => new OpenAI({ baseURL: `${edge.url}/v1`, apiKey: apiKey.key, maxRetries: 0 });

  it('streams a completion through the edge with the official OpenAI SDK, and bills it exactly once', async () => {
    const { data: stream, response } = await client()
      .chat.completions.create({
        model: 'demo-model',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: `${MARKER} say hello` }],
      })
      .withResponse();
    expect(response.headers.get('x-taas-supplier')).toBe('fake');
    expect(response.headers.get('x-taas-region')).toBe('EU');
    const requestId = response.headers.get('x-request-id')!;
    expect(requestId).toMatch(/^req_/);

    let contentChunks = 0;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) contentChunks++;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(contentChunks).toBe(12);
    expect(usage?.completion_tokens).toBe(12);
    // The credential created through the management API, sealed to this node, opened at the edge.
    expect(supplier.stats().lastAuthorization).toBe('Bearer sk-supplier-secret');
    expect(supplier.stats().lastBody).toMatchObject({ model: 'fake-chat-1', stream_options: { include_usage: true } });

    const row = async () => (await testDb.db.query('SELECT * FROM usage_events WHERE request_id = $1', [requestId])).rows;
    await waitFor(async () => (await row()).length > 0, { timeoutMs: 10_000 });
    // Give any duplicate delivery time to land before asserting there is none.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const rows = await row();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      key_id: apiKey.id,
      org_id: orgId,
      node_id: 'e2e-node',
      model: 'demo-model',
      supplier_id: 'fake',
      status: 200,
      input_tokens: usage!.prompt_tokens,
      output_tokens: 12,
      estimated: false,
    });
    // 12 output tokens at $0.60/M and the prompt at $0.15/M, rounded per line to the micro-dollar.
    expect(Number(rows[0]!.cost_micros)).toBe(Math.round((usage!.prompt_tokens * 150_000) / 1e6) + Math.round((12 * 600_000) / 1e6));
    const everything = await testDb.db.query(
      'SELECT (SELECT json_agg(u) FROM usage_events u)::text || (SELECT json_agg(a) FROM audit_log a)::text AS t',
    );
    expect(everything.rows[0]!.t).not.toContain(MARKER);
    expect(everything.rows[0]!.t).not.toContain('sk-supplier-secret');
  });

  it('answers a non-streaming completion and refuses a model outside the key allowlist with a 403', async () => {
    const completion = await client().chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'hi' }] });
    expect(completion.usage?.completion_tokens).toBe(12);
    const before = supplier.stats().requests;
    const denied = await client()
      .chat.completions.create({ model: 'other-model', messages: [{ role: 'user', content: 'hi' }] })
      .catch((err: unknown) => err);
    expect(denied).toBeInstanceOf(OpenAI.APIError);
    expect((denied as InstanceType<typeof OpenAI.APIError>).status).toBe(404);
    expect(supplier.stats().requests).toBe(before);
  });

  /**
   * Streams a completion with the supplier behaving as given, disconnects `afterMs` after the
   * first bytes, and measures how soon the supplier's call was stopped.
   */
  async function disconnectMidStream(behaviour: { completionTokens: number; interChunkDelayMs: number }, afterMs: number) {
    supplier.setBehaviour(behaviour);
    const abortedBefore = supplier.stats().aborted;
    const controller = new AbortController();
    const res = await fetch(`${edge.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo-model', stream: true, messages: [{ role: 'user', content: 'long story' }] }),
      signal: controller.signal,
    });
    const requestId = res.headers.get('x-request-id')!;
    await res.body!.getReader().read();
    await new Promise((resolve) => setTimeout(resolve, afterMs));
    controller.abort();
    const stoppedAfterMs = await waitFor(async () => supplier.stats().aborted > abortedBefore, { timeoutMs: 5000, intervalMs: 20 });
    supplier.setBehaviour({ completionTokens: 12, interChunkDelayMs: 0 });
    const row = async () => (await testDb.db.query('SELECT * FROM usage_events WHERE request_id = $1', [requestId])).rows;
    await waitFor(async () => (await row()).length > 0, { timeoutMs: 10_000 });
    return { stoppedAfterMs, usage: (await row())[0] };
  }

  it('stops the supplier call within a second of a client disconnect, and bills an estimate for what streamed', async () => {
    const { stoppedAfterMs, usage } = await disconnectMidStream({ completionTokens: 200, interChunkDelayMs: 20 }, 200);
    expect(stoppedAfterMs).toBeLessThan(1000);
    expect(usage).toMatchObject({ status: 200, estimated: true });
    // Some tokens streamed before the disconnect, far fewer than the 200 the supplier would have sent.
    expect(usage!.output_tokens).toBeGreaterThan(0);
    expect(usage!.output_tokens).toBeLessThan(200);
  });

  it('stops a silent supplier within a second of a client disconnect (found out by a heartbeat, not the next chunk)', async () => {
    // After its first chunk the supplier says nothing for 5 s: the runtime learns of the disconnect only at a write.
    const { stoppedAfterMs, usage } = await disconnectMidStream({ completionTokens: 3, interChunkDelayMs: 5000 }, 0);
    console.log(`client disconnect during 5 s of supplier silence: the supplier's call stopped after ${stoppedAfterMs} ms`);
    expect(stoppedAfterMs).toBeLessThan(1000);
    expect(usage).toMatchObject({ status: 200, estimated: true });
  });

  it('refuses the key at the edge after revocation, and the audit log holds both changes immutably', async () => {
    const models = await client().models.list();
    expect(models.data.map((m) => m.id)).toEqual(['demo-model']);

    await manage(stack.cp.url, adminToken, 'POST', `/v1/manage/keys/${apiKey.id}/revoke`);
    const tookMs = await waitFor(
      async () => {
        const res = await fetch(`${edge.url}/v1/models`, { headers: { authorization: `Bearer ${apiKey.key}` } });
        await res.body?.cancel();
        return res.status === 401;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    expect(tookMs).toBeLessThan(10_000);
    const refused = await client()
      .chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'hi' }] })
      .catch((err: unknown) => err);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(401);

    const audit = await testDb.db.query('SELECT action FROM audit_log WHERE target_id = $1 ORDER BY id', [apiKey.id]);
    expect(audit.rows.map((r) => r.action)).toEqual(['api_key.create', 'api_key.revoke']);
    await expect(testDb.db.query("UPDATE audit_log SET action = 'x' WHERE target_id = $1", [apiKey.id])).rejects.toThrow();
    await expect(testDb.db.query('DELETE FROM audit_log WHERE target_id = $1', [apiKey.id])).rejects.toThrow();
    const still = await testDb.db.query('SELECT count(*) AS n FROM audit_log WHERE target_id = $1', [apiKey.id]);
    expect(Number(still.rows[0]!.n)).toBe(2);
  });
});
