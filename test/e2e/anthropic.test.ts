// End to end with real processes, both client formats against both supplier formats: the official
// @anthropic-ai/sdk (messages streaming with tools, count_tokens) and the official openai SDK
// (chat streaming with tools) against the edge under Miniflare, with one fake supplier speaking
// OpenAI and one speaking Anthropic, each routed a model. Usage rows carry the supplier's counts.

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCatalog } from '../../control-plane/demo-catalog.ts';
import { startFakeSupplier, type FakeSupplier } from '../../fake-supplier/server.ts';
import type { RunningEdge } from '../../scripts/edge-miniflare.ts';
import { postgresAvailable, type TestDatabase } from '../support/db.ts';
import { E2E_ACTOR, startE2eStack, type E2eStack } from '../support/e2e-stack.ts';
import { waitFor } from '../support/processes.ts';

const MARKER = 'PROMPT-MARKER-anthropic-5c1d';
const weatherSchema = { type: 'object' as const, properties: { city: { type: 'string' } } };

describe.skipIf(!postgresAvailable())('Anthropic and OpenAI clients against both supplier formats, end to end', () => {
  let stack: E2eStack;
  let testDb: TestDatabase;
  let openAiSupplier: FakeSupplier;
  let anthropicSupplier: FakeSupplier;
  let edge: RunningEdge;
  let apiKey: { id: string; key: string };

  beforeAll(async () => {
    openAiSupplier = await startFakeSupplier({ apiKey: 'sk-openai-secret' });
    anthropicSupplier = await startFakeSupplier({ apiKey: 'sk-ant-secret' });
    for (const s of [openAiSupplier, anthropicSupplier]) s.setBehaviour({ completionTokens: 6, toolCall: true });
    stack = await startE2eStack();
    testDb = stack.testDb;
    await seedCatalog(testDb.db, E2E_ACTOR, {
      supplier: { id: 'fake-openai', name: 'Fake OpenAI', format: 'openai', baseUrl: openAiSupplier.url, region: 'EU' },
      models: [{ id: 'open-model', upstreamModel: 'fake-chat-1', inputPerMtok: 150_000, outputPerMtok: 600_000 }],
    });
    await seedCatalog(testDb.db, E2E_ACTOR, {
      supplier: { id: 'fake-anthropic', name: 'Fake Anthropic', format: 'anthropic', baseUrl: anthropicSupplier.url, region: 'EU' },
      models: [{ id: 'claude-model', upstreamModel: 'claude-fake-1', inputPerMtok: 3_000_000, outputPerMtok: 15_000_000 }],
    });
    ({ key: apiKey } = await stack.orgWithKey('E2E Anthropic org'));
    ({ edge } = await stack.startNode({
      nodeId: 'e2e-node',
      bindings: { MANIFEST_REFRESH_SECONDS: '0.5', SUPPLIER_KEYS: JSON.stringify({ 'fake-openai': 'sk-openai-secret', 'fake-anthropic': 'sk-ant-secret' }) },
    }));
  }, 120_000);

  afterAll(async () => {
    await stack?.close();
    await openAiSupplier?.close();
    await anthropicSupplier?.close();
  });

  const usageRow = async (requestId: string) => {
    const rows = async () => (await testDb.db.query('SELECT * FROM usage_events WHERE request_id = $1', [requestId])).rows;
    await waitFor(async () => (await rows()).length > 0, { timeoutMs: 10_000 });
    return (await rows())[0]!;
  };
  const anthropic = () => new Anthropic({ baseURL: edge.url, apiKey: apiKey.key, maxRetries: 0 });
  const openai = () => new OpenAI({ baseURL: `${edge.url}/v1`, apiKey: apiKey.key, maxRetries: 0 });

  describe.each([
    ['an Anthropic-format supplier', 'claude-model', 'fake-anthropic'],
    ['an OpenAI-format supplier', 'open-model', 'fake-openai'],
  ])('to %s', (_name, model, supplierId) => {
    it('streams a message with a tool call through @anthropic-ai/sdk, and bills the supplier\'s counts', async () => {
      const stream = anthropic().messages.stream({
        model,
        max_tokens: 200,
        system: 'Use tools.',
        messages: [{ role: 'user', content: `${MARKER} weather in Oslo?` }],
        tools: [{ name: 'get_weather', description: 'Weather in a city', input_schema: weatherSchema }],
      });
      const names: string[] = [];
      stream.on('streamEvent', (event) => names.push(event.type));
      const message = await stream.finalMessage();
      const response = (await stream.withResponse()).response;
      expect(response.headers.get('x-taas-supplier')).toBe(supplierId);

      expect(names[0]).toBe('message_start');
      expect(names.at(-1)).toBe('message_stop');
      expect(message.stop_reason).toBe('tool_use');
      expect(message.content).toEqual([{ type: 'tool_use', id: expect.any(String), name: 'get_weather', input: { city: 'tok0' } }]);
      const row = await usageRow(response.headers.get('x-request-id')!);
      expect(row).toMatchObject({ model, supplier_id: supplierId, status: 200, output_tokens: 6, estimated: false });
      expect(row.input_tokens).toBeGreaterThan(0);
    });

    it('counts tokens through @anthropic-ai/sdk', async () => {
      const { input_tokens } = await anthropic().messages.countTokens({ model, messages: [{ role: 'user', content: 'x'.repeat(400) }] });
      expect(input_tokens).toBe(100);
    });

    it('streams a chat completion with a tool call through the openai SDK, and bills the supplier\'s counts', async () => {
      const { data: stream, response } = await openai()
        .chat.completions.create({
          model,
          stream: true,
          stream_options: { include_usage: true },
          messages: [{ role: 'user', content: `${MARKER} weather in Oslo?` }],
          tools: [{ type: 'function', function: { name: 'get_weather', parameters: weatherSchema } }],
        })
        .withResponse();
      let args = '';
      let name = '';
      let finish: string | null = null;
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const chunk of stream) {
        for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
          name += call.function?.name ?? '';
          args += call.function?.arguments ?? '';
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (chunk.usage) usage = chunk.usage;
      }
      expect({ name, args: JSON.parse(args) as unknown, finish }).toEqual({ name: 'get_weather', args: { city: 'tok0' }, finish: 'tool_calls' });
      expect(usage?.completion_tokens).toBe(6);
      const row = await usageRow(response.headers.get('x-request-id')!);
      expect(row).toMatchObject({ model, supplier_id: supplierId, status: 200, input_tokens: usage!.prompt_tokens, output_tokens: 6, estimated: false });
    });

    it('keeps a session on its route through both SDKs\' metadata, sending the supplier only what it accepts', async () => {
      // The suppliers refuse what the real APIs refuse: Anthropic any metadata key but user_id,
      // OpenAI metadata without store.
      const message = await anthropic().messages.create({
        model,
        max_tokens: 20,
        metadata: { user_id: 'u-1', session_id: 'conv-1' } as Anthropic.Metadata,
        messages: [{ role: 'user', content: 'Hi' }],
      });
      expect(message.type).toBe('message');
      const completion = await openai().chat.completions.create({
        model,
        metadata: { session_id: 'conv-1' },
        store: true,
        messages: [{ role: 'user', content: 'Hi' }],
      });
      expect(completion.object).toBe('chat.completion');
    });

    it('keeps both SDKs\' streams intact through a silent supplier (the edge\'s heartbeats are SSE comments they skip)', async () => {
      const supplier = supplierId === 'fake-openai' ? openAiSupplier : anthropicSupplier;
      // 600 ms between chunks: two heartbeats in each silence (edge/metering.ts HEARTBEAT_MS).
      supplier.setBehaviour({ completionTokens: 3, toolCall: false, interChunkDelayMs: 600 });
      try {
        const message = await anthropic().messages.stream({ model, max_tokens: 50, messages: [{ role: 'user', content: 'Say three words.' }] }).finalMessage();
        expect(message.stop_reason).toBe('end_turn');
        expect(message.content).toEqual([{ type: 'text', text: 'tok0 tok1 tok2' }]);
        expect(message.usage.output_tokens).toBe(3);

        const stream = await openai().chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'Say three words.' }] });
        let text = '';
        let finish: string | null = null;
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta.content ?? '';
          finish = chunk.choices[0]?.finish_reason ?? finish;
        }
        expect({ text, finish }).toEqual({ text: 'tok0 tok1 tok2', finish: 'stop' });
      } finally {
        supplier.setBehaviour({ completionTokens: 6, toolCall: true, interChunkDelayMs: 0 });
      }
    });
  });

  it('answers a json_schema response_format from a Claude model through the openai SDK, streamed and not', async () => {
    const response_format = { type: 'json_schema' as const, json_schema: { name: 'weather', strict: true, schema: { ...weatherSchema, required: ['city'] } } };
    const messages = [{ role: 'user' as const, content: 'Weather in Oslo as JSON.' }];
    const completion = await openai().chat.completions.create({ model: 'claude-model', response_format, messages });
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.choices[0]!.message.tool_calls).toBeUndefined();
    expect(JSON.parse(completion.choices[0]!.message.content!)).toEqual({ city: 'tok0' });

    let text = '';
    let finish: string | null = null;
    for await (const chunk of await openai().chat.completions.create({ model: 'claude-model', response_format, messages, stream: true })) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect({ json: JSON.parse(text) as unknown, finish }).toEqual({ json: { city: 'tok0' }, finish: 'stop' });
  });

  it('never stores prompt text in usage or audit rows', async () => {
    const everything = await testDb.db.query('SELECT (SELECT json_agg(u) FROM usage_events u)::text || coalesce((SELECT json_agg(a) FROM audit_log a)::text, \'\') AS t');
    expect(everything.rows[0]!.t).not.toContain(MARKER);
  });
});
