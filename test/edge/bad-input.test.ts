// Request bodies the edge must refuse before anything goes upstream: unparseable JSON, bodies that
// are not a chat request, and bodies over the size limit. None of them may become a 500.
import { describe, expect, it } from 'vitest';
import { UsageEvent } from '../../shared/usage.ts';
import { completion } from './support/fake-supplier.ts';
import { chatBody, scenario } from './support/scenario.ts';

interface ErrorShape {
  error: { message: string; type: string; code: string; param: string | null; request_id: string | null };
}

async function scriptedScenario(maxRequestBytes = 64 * 1024) {
  const s = await scenario({ edge: { maxRequestBytes } });
  for (const route of s.model.routes) s.edge.supplier.script(route, completion({ content: 'should never be sent' }));
  return s;
}

describe('edge bad input', () => {
  it('answers 400 invalid_json for a body that is not JSON', async () => {
    const { edge, key } = await scriptedScenario();

    const response = await edge.send('/v1/chat/completions', {
      key: key.token,
      body: '{"model": "m", "messages": [',
      headers: { 'content-type': 'application/json' },
    });

    expect(response.status).toBe(400);
    const { error } = (await response.json()) as ErrorShape;
    expect(error).toMatchObject({ code: 'invalid_json', type: 'invalid_request_error' });
    expect(edge.supplier.calls).toHaveLength(0);
  });

  it('answers 400 invalid_json for an empty body', async () => {
    const { edge, key } = await scriptedScenario();

    const response = await edge.send('/v1/chat/completions', { key: key.token, method: 'POST' });

    expect(response.status).toBe(400);
    expect(((await response.json()) as ErrorShape).error.code).toBe('invalid_json');
  });

  const invalid: { name: string; body: (model: string) => unknown; param: string }[] = [
    { name: 'a missing model', body: () => ({ messages: [{ role: 'user', content: 'hi' }] }), param: 'model' },
    { name: 'an empty messages list', body: (model) => ({ model, messages: [] }), param: 'messages' },
    { name: 'a model that is not a string', body: () => chatBody('x', { model: 42 }), param: 'model' },
    { name: 'a model with a control character', body: () => chatBody('x', { model: 'gpt\u0000x' }), param: 'model' },
    { name: 'a model with a lone surrogate', body: () => chatBody('x', { model: 'gpt\ud800' }), param: 'model' },
    { name: 'messages that are not a list', body: (model) => ({ model, messages: 'Hello there.' }), param: 'messages' },
    { name: 'a message without a role', body: (model) => ({ model, messages: [{ content: 'hi' }] }), param: 'messages.0.role' },
    { name: 'stream that is not a boolean', body: (model) => chatBody(model, { stream: 'yes' }), param: 'stream' },
    { name: 'a negative max_tokens', body: (model) => chatBody(model, { max_tokens: -1 }), param: 'max_tokens' },
    { name: 'message content that is a number', body: (model) => chatBody(model, { messages: [{ role: 'user', content: 5 }] }), param: 'messages.0.content' },
    { name: 'a content part without a type', body: (model) => chatBody(model, { messages: [{ role: 'user', content: [{ text: 'hi' }] }] }), param: 'messages.0.content' },
    { name: 'a temperature that is a string', body: (model) => chatBody(model, { temperature: 'hot' }), param: 'temperature' },
    { name: 'a stop that is a number', body: (model) => chatBody(model, { stop: 7 }), param: 'stop' },
    { name: 'an n that is not a positive integer', body: (model) => chatBody(model, { n: 0 }), param: 'n' },
    { name: 'tools that are not a list', body: (model) => chatBody(model, { tools: { type: 'function' } }), param: 'tools' },
    { name: 'a response_format without a type', body: (model) => chatBody(model, { response_format: {} }), param: 'response_format.type' },
  ];

  it('passes a request with every standard setting well typed, nulls and content parts included', async () => {
    const { edge, key, model } = await scriptedScenario();
    const body = chatBody(model.id, {
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'hi' }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'done' },
      ],
      temperature: 0.2, top_p: 1, n: 1, stop: ['\n\n'], presence_penalty: 0, frequency_penalty: null, seed: 7, user: 'u-1',
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }], tool_choice: 'auto', parallel_tool_calls: false,
      response_format: { type: 'text' }, logprobs: false, top_logprobs: null, a_field_openai_adds_tomorrow: { anything: true },
    });

    const response = await edge.send('/v1/chat/completions', { key: key.token, body });

    expect(response.status).toBe(200);
    expect(edge.supplier.calls).toHaveLength(1);
    const sent = edge.supplier.calls[0]!.body;
    expect(sent.a_field_openai_adds_tomorrow).toEqual({ anything: true });
    expect(sent.stop).toEqual(['\n\n']);
  });

  it.each(invalid)('answers 422 naming the param for $name', async ({ body, param }) => {
    const { edge, key, model } = await scriptedScenario();

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id) });

    expect(response.status).toBe(422);
    const { error } = (await response.json()) as ErrorShape;
    expect(error).toMatchObject({ code: 'validation_failed', type: 'invalid_request_error', param });
    expect(error.message).toContain(param);
    expect(edge.supplier.calls).toHaveLength(0);
  });

  // The name asked for goes into the request's usage row even when no such model exists; the
  // control plane refuses (and the outbox drops) an event PostgreSQL cannot store.
  it.each([
    ['/v1/chat/completions', (model: string) => chatBody(model)],
    ['/v1/messages', (model: string) => ({ model, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })],
    ['/v1/messages/count_tokens', (model: string) => ({ model, messages: [{ role: 'user', content: 'hi' }] })],
    ['/v1/responses', (model: string) => ({ model, input: 'hi' })],
    ['/v1/embeddings', (model: string) => ({ model, input: 'hi' })],
    ['/v1/rerank', (model: string) => ({ model, query: 'q', documents: ['a'] })],
    ['/v1/audio/speech', (model: string) => ({ model, input: 'hi', voice: 'alloy' })],
  ])('refuses a model name with a NUL or a lone surrogate on %s, and records usage events ingestion accepts', async (path, body) => {
    const { edge, key } = await scriptedScenario();

    for (const name of ['a\u0000b', 'gpt\ud800']) {
      const response = await edge.send(path, { key: key.token, body: body(name) });
      expect(response.status).toBe(422);
      expect(JSON.stringify(await response.json())).toContain('model');
    }
    expect(edge.supplier.calls).toHaveLength(0);
    await edge.settle();
    const events = edge.events();
    expect(events).toHaveLength(2);
    for (const event of events) expect(UsageEvent.safeParse(event).success).toBe(true);
  });

  // Features the supplier bills apart from tokens, which no catalog price covers (edge/unpriced.ts).
  it.each([
    ['a priority service tier', '/v1/chat/completions', (model: string) => chatBody(model, { service_tier: 'priority' }), 'service_tier'],
    ['web search on chat', '/v1/chat/completions', (model: string) => chatBody(model, { web_search_options: {} }), 'web_search_options'],
    ['audio output on chat', '/v1/chat/completions', (model: string) => chatBody(model, { modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'wav' } }), 'modalities'],
    [
      'audio input on chat',
      '/v1/chat/completions',
      (model: string) => chatBody(model, { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } }] }] }),
      'messages.0.content.0',
    ],
    [
      'Anthropic\'s web search server tool',
      '/v1/messages',
      (model: string) => ({ model, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'web_search_20250305', name: 'web_search' }] }),
      // Anthropic's error shape has no param: the message names the tool.
      'web_search_20250305',
    ],
    [
      'a one-hour cache write',
      '/v1/messages',
      (model: string) => ({
        model,
        max_tokens: 5,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral', ttl: '1h' } }] }],
      }),
      'cache TTL',
    ],
  ])('refuses %s with a 400 before any supplier call', async (_name, path, body, named) => {
    const { edge, key, model } = await scriptedScenario();

    const response = await edge.send(path, { key: key.token, body: body(model.id) });

    expect(response.status).toBe(400);
    const text = await response.text();
    expect(text).toContain('invalid_request_error');
    expect(text).toContain(named);
    expect(edge.supplier.calls).toHaveLength(0);
  });

  it('passes five-minute cache writes, the default', async () => {
    const { edge, key, model } = await scriptedScenario();
    const block = (ttl?: string) => ({ type: 'text', text: 'hi', cache_control: { type: 'ephemeral', ...(ttl ? { ttl } : {}) } });
    const response = await edge.send('/v1/messages', {
      key: key.token,
      body: { model: model.id, max_tokens: 5, system: [block()], messages: [{ role: 'user', content: [block('5m')] }] },
    });
    expect(response.status).toBe(200);
    await response.text();
    expect(edge.supplier.calls).toHaveLength(1);
  });

  it('passes the default service tiers, and sends store as false', async () => {
    const { edge, key, model } = await scriptedScenario();
    for (const service_tier of ['auto', 'default']) {
      const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id, { service_tier, store: true }) });
      expect(response.status).toBe(200);
      await response.text();
    }
    expect(edge.supplier.calls.map((c) => [c.body.service_tier, c.body.store])).toEqual([
      ['auto', false],
      ['default', false],
    ]);
  });

  it('answers 413 for a body over maxRequestBytes', async () => {
    const { edge, key, model } = await scriptedScenario(1024);

    const response = await edge.send('/v1/chat/completions', {
      key: key.token,
      body: chatBody(model.id, { messages: [{ role: 'user', content: 'x'.repeat(2048) }] }),
    });

    expect(response.status).toBe(413);
    expect(((await response.json()) as ErrorShape).error.code).toBe('payload_too_large');
    expect(edge.supplier.calls).toHaveLength(0);
  });

  it('answers 413 for a streamed body over maxRequestBytes that declares no length', async () => {
    const { edge, key, model } = await scriptedScenario(1024);
    const json = new TextEncoder().encode(JSON.stringify(chatBody(model.id, { messages: [{ role: 'user', content: 'x'.repeat(4096) }] })));
    let offset = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= json.byteLength) return controller.close();
        controller.enqueue(json.slice(offset, offset + 256));
        offset += 256;
      },
    });

    const response = await edge.send('/v1/chat/completions', { key: key.token, body, headers: { 'content-type': 'application/json' } });

    expect(response.status).toBe(413);
    expect(edge.supplier.calls).toHaveLength(0);
  });

  it('accepts a body of exactly maxRequestBytes', async () => {
    const { edge, key, model } = await scriptedScenario(1024);
    const base = JSON.stringify(chatBody(model.id, { messages: [{ role: 'user', content: '' }] }));
    const exact = JSON.stringify(chatBody(model.id, { messages: [{ role: 'user', content: 'x'.repeat(1024 - base.length) }] }));
    expect(new TextEncoder().encode(exact).byteLength).toBe(1024);

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: exact, headers: { 'content-type': 'application/json' } });

    expect(response.status).toBe(200);
  });

  const odd: { name: string; body: string | Uint8Array }[] = [
    { name: 'JSON null', body: 'null' },
    { name: 'a JSON array', body: '[]' },
    { name: 'a JSON string', body: '"hello"' },
    { name: 'a JSON number', body: '12345678901234567890' },
    { name: 'an empty object', body: '{}' },
    { name: 'a null model', body: '{"model":null,"messages":null}' },
    { name: 'a __proto__ key', body: '{"__proto__":{"model":"m"},"messages":[{"role":"user"}]}' },
    { name: 'deeply nested arrays', body: '['.repeat(5000) + ']'.repeat(5000) },
    { name: 'bytes that are not UTF-8', body: new Uint8Array([0xff, 0xfe, 0x7b, 0x80, 0x7d]) },
    { name: 'a stream_options that is not an object', body: '{"model":"m","messages":[{"role":"user"}],"stream":true,"stream_options":"yes"}' },
  ];

  it.each(odd)('answers a 4xx in the error shape, never a 500, for $name', async ({ body }) => {
    const { edge, key } = await scriptedScenario();

    const response = await edge.send('/v1/chat/completions', { key: key.token, body, headers: { 'content-type': 'application/json' } });

    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(((await response.json()) as ErrorShape).error.request_id).toBe(response.headers.get('x-request-id'));
    expect(edge.logs.filter((entry) => entry.level === 'error')).toEqual([]);
    expect(edge.supplier.calls).toHaveLength(0);
  });
});
