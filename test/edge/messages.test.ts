// POST /v1/messages and /v1/messages/count_tokens through the edge: Anthropic-format routes pass
// through with usage metered (cache tokens kept), OpenAI-format routes are translated both ways,
// errors come back in Anthropic's shape, and a denied request reaches no supplier.
import { describe, expect, it } from 'vitest';
import { completion, openAiError, stream, usageOf } from './support/fake-supplier.ts';
import { anthropicError, anthropicEvents, anthropicMessage, eventStream, namedEvents } from './support/anthropic-replies.ts';
import { buildModel, buildRoute } from './support/manifest-builder.ts';
import { scenario } from './support/scenario.ts';

const body = (model: string, extra: Record<string, unknown> = {}) => ({ model, max_tokens: 100, messages: [{ role: 'user', content: 'Hello there.' }], ...extra });

async function setup(format: 'anthropic' | 'openai', key: Record<string, unknown> = {}, upstreamModel?: string) {
  const route = buildRoute({ format, ...(upstreamModel ? { upstream_model: upstreamModel } : {}) });
  const s = await scenario({ model: buildModel({ routes: [route] }), key, edge: { supplierKeys: { [route.supplier_id]: 'sk-supplier' } } });
  const send = (path: string, payload: unknown) =>
    s.edge.send(path, { body: payload, headers: { 'x-api-key': s.key.token, 'anthropic-version': '2023-06-01' } });
  return { ...s, route, send };
}

describe('/v1/messages to an Anthropic-format supplier', () => {
  it("forwards the client's well-formed anthropic-beta names, and none to an OpenAI-format supplier", async () => {
    for (const format of ['anthropic', 'openai'] as const) {
      const { edge, route, model, key } = await setup(format);
      edge.supplier.script(route, format === 'anthropic' ? anthropicMessage({ content: [{ type: 'text', text: 'Hi' }] }) : completion({ content: 'Hi' }));
      const response = await edge.send('/v1/messages', {
        body: body(model.id),
        headers: { 'x-api-key': key.token, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'context-1m-2025-08-07, Bad Name!, interleaved-thinking-2025-05-14' },
      });
      expect(response.status).toBe(200);
      await response.text();
      const [call] = edge.supplier.callsTo(route);
      expect(call!.headers.get('anthropic-beta'), format).toBe(format === 'anthropic' ? 'context-1m-2025-08-07,interleaved-thinking-2025-05-14' : null);
      await edge.settle();
    }
  });

  it('forwards to {base_url}/messages with x-api-key, anthropic-version and the upstream model, and meters cache tokens', async () => {
    const { edge, route, model, send } = await setup('anthropic');
    edge.supplier.script(route, anthropicMessage({ content: [{ type: 'text', text: 'Hi' }], usage: { input_tokens: 5, output_tokens: 3, cache_read_input_tokens: 40, cache_creation_input_tokens: 2 } }));

    const response = await send('/v1/messages', body(model.id));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ type: 'message', content: [{ type: 'text', text: 'Hi' }], stop_reason: 'end_turn' });
    await edge.settle();

    const [call] = edge.supplier.callsTo(route);
    expect(call!.url).toBe(`${route.base_url}/messages`);
    expect(call!.headers.get('x-api-key')).toBe('sk-supplier');
    expect(call!.headers.get('anthropic-version')).toBe('2023-06-01');
    expect(call!.body).toMatchObject({ model: route.upstream_model, max_tokens: 100 });
    expect(edge.events()[0]).toMatchObject({ endpoint: '/v1/messages', status: 200, input_tokens: 47, output_tokens: 3, estimated: false });
  });

  it('passes the event stream through and meters message_start and message_delta usage', async () => {
    const { edge, route, model, send } = await setup('anthropic');
    edge.supplier.script(route, eventStream(anthropicEvents({ texts: ['a', 'b'], usage: { input_tokens: 9, output_tokens: 2, cache_read_input_tokens: 1 } })));

    const response = await send('/v1/messages', body(model.id, { stream: true }));
    const events = namedEvents(await response.text());
    await edge.settle();

    expect(events.map(([n]) => n)).toEqual(['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    expect(edge.events()[0]).toMatchObject({ input_tokens: 10, output_tokens: 2, estimated: false });
  });

  it('ends the stream with event: error and no message_stop when the supplier fails mid-stream', async () => {
    const { edge, route, model, send } = await setup('anthropic');
    edge.supplier.script(route, eventStream(anthropicEvents({ texts: ['a', 'b', 'c'] }), { failAfterEvents: 4 }));

    const events = namedEvents(await (await send('/v1/messages', body(model.id, { stream: true }))).text());

    expect(events.map(([n]) => n)).not.toContain('message_stop');
    expect(events.at(-1)).toEqual(['error', { type: 'error', error: { type: 'api_error', message: expect.any(String) } }]);
  });

  it('returns a supplier\'s 400 in Anthropic\'s error shape, keeping its message', async () => {
    const { edge, route, model, send } = await setup('anthropic');
    edge.supplier.script(route, anthropicError(400, 'invalid_request_error', 'prompt is too long'));

    const response = await send('/v1/messages', body(model.id));
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('prompt is too long') } });
  });
});

describe('/v1/messages to an OpenAI-format supplier', () => {
  it('translates the request and the answer, with the usage in Anthropic\'s terms', async () => {
    const { edge, route, model, send } = await setup('openai');
    edge.supplier.script(route, completion({ content: 'Hi', usage: { ...usageOf(20, 4), prompt_tokens_details: { cached_tokens: 15 } } as ReturnType<typeof usageOf> }));

    const response = await send('/v1/messages', body(model.id, { system: 'Be brief.' }));
    const message = await response.json();
    await edge.settle();

    const [call] = edge.supplier.callsTo(route);
    expect(call!.url).toBe(`${route.base_url}/chat/completions`);
    expect(call!.headers.get('authorization')).toBe('Bearer sk-supplier');
    expect(call!.body).toMatchObject({ model: route.upstream_model, max_tokens: 100, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there.' }] });
    expect(message).toMatchObject({ type: 'message', role: 'assistant', model: model.id, content: [{ type: 'text', text: 'Hi' }], stop_reason: 'end_turn', usage: { input_tokens: 5, cache_read_input_tokens: 15, output_tokens: 4 } });
    expect(edge.events()[0]).toMatchObject({ input_tokens: 20, output_tokens: 4, estimated: false });
  });

  it('sends max_completion_tokens instead of max_tokens to OpenAI reasoning models, which refuse the latter', async () => {
    for (const upstream of ['o4-mini', 'gpt-5-mini', 'openai/o3']) {
      const { edge, route, model, send } = await setup('openai', {}, upstream);
      edge.supplier.script(route, completion({ content: 'Hi' }));
      await (await send('/v1/messages', body(model.id))).text();
      const sent = edge.supplier.callsTo(route)[0]!.body;
      expect(sent).toMatchObject({ model: upstream, max_completion_tokens: 100 });
      expect(sent).not.toHaveProperty('max_tokens');
    }
  });

  it("clamps max_tokens to the model's output limit and drops a user_id longer than OpenAI's 64-character user", async () => {
    const { edge, route, model, send } = await setup('openai');
    edge.supplier.script(route, completion({ content: 'Hi' }));
    // Claude Code's request: max_tokens 32000, a user_id of ~120 characters.
    await (await send('/v1/messages', body(model.id, { max_tokens: 32_000, metadata: { user_id: `user_${'a'.repeat(64)}_account__session_${'b'.repeat(36)}` } }))).text();
    const sent = edge.supplier.callsTo(route)[0]!.body;
    expect(sent).toMatchObject({ max_tokens: model.max_output_tokens });
    expect(sent).not.toHaveProperty('user');
  });

  it('translates the stream into Anthropic events from message_start to message_stop', async () => {
    const { edge, route, model, send } = await setup('openai');
    edge.supplier.script(route, stream({ contents: ['Hel', 'lo'], usage: usageOf(12, 2) }));

    const response = await send('/v1/messages', body(model.id, { stream: true }));
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = namedEvents(await response.text());
    await edge.settle();

    expect(events.map(([n]) => n)).toEqual(['message_start', 'ping', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    expect(events.filter(([n]) => n === 'content_block_delta').map(([, d]) => (d.delta as { text: string }).text).join('')).toBe('Hello');
    expect(edge.events()[0]).toMatchObject({ input_tokens: 12, output_tokens: 2, estimated: false });
  });

  it('ends a translated stream with event: error when the supplier fails mid-stream', async () => {
    const { edge, route, model, send } = await setup('openai');
    edge.supplier.script(route, stream({ contents: ['a', 'b', 'c'], failAfterEvents: 2 }));

    const events = namedEvents(await (await send('/v1/messages', body(model.id, { stream: true }))).text());
    expect(events.map(([n]) => n)).not.toContain('message_stop');
    expect(events.at(-1)![0]).toBe('error');
  });

  it('returns an OpenAI-format supplier\'s 400 in Anthropic\'s error shape', async () => {
    const { edge, route, model, send } = await setup('openai');
    edge.supplier.script(route, openAiError(400, 'bad temperature'));

    const response = await send('/v1/messages', body(model.id));
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('bad temperature') } });
  });
});

describe('/v1/messages refusals', () => {
  it('answers a body without max_tokens with a 422 in Anthropic\'s shape, and calls no supplier', async () => {
    const { edge, model, send } = await setup('anthropic');
    const response = await send('/v1/messages', { model: model.id, messages: [{ role: 'user', content: 'x' }] });
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(edge.supplier.calls).toHaveLength(0);
  });

  it('denies a model outside the key\'s allowlist with a 403 and calls no supplier, on both endpoints', async () => {
    const { edge, model, send } = await setup('anthropic', { allowed_models: ['another-model'] });
    for (const path of ['/v1/messages', '/v1/messages/count_tokens']) {
      const response = await send(path, body(model.id));
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'permission_error' } });
    }
    expect(edge.supplier.calls).toHaveLength(0);
  });

  it('answers a bad key with one Anthropic-shaped 401', async () => {
    const { model, edge } = await setup('anthropic');
    const response = await edge.send('/v1/messages', { body: body(model.id), headers: { 'x-api-key': 'taas_nope' } });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
  });
});

describe('/v1/messages/count_tokens', () => {
  it('forwards to an Anthropic-format supplier\'s count, and records a free usage row', async () => {
    const { edge, route, model, send } = await setup('anthropic');
    edge.supplier.script(route, async () => new Response(JSON.stringify({ input_tokens: 42 }), { headers: { 'content-type': 'application/json' } }));

    const response = await send('/v1/messages/count_tokens', { model: model.id, messages: [{ role: 'user', content: 'Hello there.' }] });
    expect(await response.json()).toEqual({ input_tokens: 42 });
    await edge.settle();

    expect(edge.supplier.callsTo(route)[0]!.url).toBe(`${route.base_url}/messages/count_tokens`);
    expect(edge.events()[0]).toMatchObject({ endpoint: '/v1/messages/count_tokens', status: 200, input_tokens: 0, output_tokens: 0, estimated: false });
  });

  it('answers a local estimate for an OpenAI-format model without calling its supplier', async () => {
    const { edge, model, send } = await setup('openai');
    const text = 'x'.repeat(400);
    const response = await send('/v1/messages/count_tokens', { model: model.id, messages: [{ role: 'user', content: text }] });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ input_tokens: 100 });
    expect(edge.supplier.calls).toHaveLength(0);
  });
});
