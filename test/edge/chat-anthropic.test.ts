// /v1/chat/completions to an Anthropic-format supplier (a Claude model through the OpenAI API):
// the request and the answer translated, streams event by event, cached tokens kept in usage,
// errors in OpenAI's shape.
import { describe, expect, it } from 'vitest';
import { anthropicError, anthropicEvents, anthropicMessage, eventStream } from './support/anthropic-replies.ts';
import { buildModel, buildRoute } from './support/manifest-builder.ts';
import { chatBody, scenario } from './support/scenario.ts';
import { sseReader, streamedText } from './support/sse.ts';

async function setup(model: { max_output_tokens?: number | null } = {}) {
  const route = buildRoute({ format: 'anthropic' });
  const s = await scenario({ model: buildModel({ routes: [route], ...model }), edge: { supplierKeys: { [route.supplier_id]: 'sk-ant' } } });
  const ask = (extra: Record<string, unknown> = {}) => s.edge.send('/v1/chat/completions', { key: s.key.token, body: chatBody(s.model.id, extra) });
  return { ...s, route, ask };
}

describe('/v1/chat/completions to an Anthropic-format supplier', () => {
  it('sends a Messages request with the catalog\'s max_output_tokens as the default max_tokens', async () => {
    const { edge, route, ask } = await setup({ max_output_tokens: 8192 });
    edge.supplier.script(route, anthropicMessage({ content: [{ type: 'text', text: 'Hi' }] }));

    await (await ask({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }] })).text();

    const [call] = edge.supplier.callsTo(route);
    expect(call!.url).toBe(`${route.base_url}/messages`);
    expect(call!.headers.get('x-api-key')).toBe('sk-ant');
    expect(call!.headers.get('anthropic-version')).toBe('2023-06-01');
    expect(call!.body).toEqual({ model: route.upstream_model, max_tokens: 8192, system: [{ type: 'text', text: 'Be brief.' }], messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }] });
  });

  it('falls back to 4096 max_tokens when the catalog states no output limit', async () => {
    const { edge, route, ask } = await setup({ max_output_tokens: null });
    edge.supplier.script(route, anthropicMessage({ content: [{ type: 'text', text: 'Hi' }] }));
    await (await ask()).text();
    expect(edge.supplier.callsTo(route)[0]!.body.max_tokens).toBe(4096);
  });

  it('answers a chat.completion with the finish reason and cached tokens, and meters them', async () => {
    const { edge, route, model, ask } = await setup();
    edge.supplier.script(route, anthropicMessage({ content: [{ type: 'text', text: 'Hi' }], stopReason: 'max_tokens', usage: { input_tokens: 3, output_tokens: 2, cache_read_input_tokens: 60 } }));

    const completion = (await (await ask()).json()) as Record<string, unknown>;
    await edge.settle();

    expect(completion).toMatchObject({
      object: 'chat.completion',
      model: model.id,
      choices: [{ message: { role: 'assistant', content: 'Hi' }, finish_reason: 'length' }],
      usage: { prompt_tokens: 63, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 60 } },
    });
    expect(edge.events()[0]).toMatchObject({ input_tokens: 63, output_tokens: 2, estimated: false });
  });

  it('streams chunks translated event by event, with a usage chunk when asked, ending in [DONE]', async () => {
    const { edge, route, ask } = await setup();
    edge.supplier.script(route, eventStream(anthropicEvents({ texts: ['Hel', 'lo'], usage: { input_tokens: 7, output_tokens: 2 } })));

    const response = await ask({ stream: true, stream_options: { include_usage: true } });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = await sseReader(response).rest();
    await edge.settle();

    expect(streamedText(events)).toBe('Hello');
    expect(events.at(-1)).toBe('[DONE]');
    expect(JSON.parse(events.at(-2)!)).toMatchObject({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 2 } });
    expect(edge.events()[0]).toMatchObject({ input_tokens: 7, output_tokens: 2, estimated: false });
  });

  it('streams a tool call as tool_calls deltas with finish_reason tool_calls', async () => {
    const { edge, route, ask } = await setup();
    edge.supplier.script(route, eventStream(anthropicEvents({ tool: { id: 'toolu_1', name: 'get_weather', pieces: ['{"city"', ':"Oslo"}'] } })));

    const events = await sseReader(await ask({ stream: true, tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }] })).rest();
    const chunks = events.filter((e) => e !== '[DONE]').map((e) => JSON.parse(e) as { choices: { delta: { tool_calls?: { function: { arguments?: string } }[] }; finish_reason: string | null }[] });

    expect(chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []).map((t) => t.function.arguments).join('')).toBe('{"city":"Oslo"}');
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('tool_calls');
    expect(edge.supplier.callsTo(route)[0]!.body.tools).toEqual([{ name: 'get_weather', input_schema: { type: 'object' } }]);
  });

  it('ends the stream with OpenAI\'s error object and no [DONE] when the supplier fails mid-stream', async () => {
    const { edge, route, ask } = await setup();
    edge.supplier.script(route, eventStream(anthropicEvents({ texts: ['a', 'b', 'c'] }), { failAfterEvents: 4 }));

    const response = await ask({ stream: true });
    const events = await sseReader(response).rest();

    expect(events).not.toContain('[DONE]');
    expect(JSON.parse(events.at(-1)!)).toMatchObject({ error: { code: 'upstream_failed', request_id: response.headers.get('x-request-id') } });
  });

  it('returns the supplier\'s 400 in OpenAI\'s error shape', async () => {
    const { edge, route, ask } = await setup();
    edge.supplier.script(route, anthropicError(400, 'invalid_request_error', 'prompt is too long'));

    const response = await ask();
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { type: 'invalid_request_error', message: expect.stringContaining('prompt is too long') } });
  });

  it('refuses content Anthropic cannot carry with a 400 before any supplier call', async () => {
    const { edge, ask } = await setup();
    const response = await ask({ messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-1' } }] }] });
    expect(response.status).toBe(400);
    expect(edge.supplier.calls).toHaveLength(0);
  });

  it('refuses n > 1 with a 400 naming n: Messages answers one choice, and dropping n would answer less than asked', async () => {
    const { edge, ask } = await setup();
    const response = await ask({ n: 2 });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'n' } });
    expect(edge.supplier.calls).toHaveLength(0);
  });

  const weather = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
  const jsonSchema = { response_format: { type: 'json_schema', json_schema: { name: 'weather', strict: true, schema: weather } } };

  it('answers a json_schema response_format through a forced tool, its input as the message content', async () => {
    const { edge, route, ask } = await setup();
    edge.supplier.script(route, anthropicMessage({ content: [{ type: 'tool_use', id: 'toolu_1', name: 'json_answer', input: { city: 'Oslo' } }], stopReason: 'tool_use' }));

    const completion = (await (await ask(jsonSchema)).json()) as { choices: { message: Record<string, unknown>; finish_reason: string }[] };

    const sent = edge.supplier.callsTo(route)[0]!.body;
    expect(sent.tools).toEqual([{ name: 'json_answer', description: expect.any(String), input_schema: weather }]);
    expect(sent.tool_choice).toEqual({ type: 'tool', name: 'json_answer' });
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.choices[0]!.message).not.toHaveProperty('tool_calls');
    expect(JSON.parse(completion.choices[0]!.message.content as string)).toEqual({ city: 'Oslo' });
  });

  it('streams a json_schema answer as content deltas with finish_reason stop', async () => {
    const { route, edge, ask } = await setup();
    edge.supplier.script(route, eventStream(anthropicEvents({ tool: { id: 'toolu_1', name: 'json_answer', pieces: ['{"city"', ':"Oslo"}'] }, stopReason: 'tool_use' })));

    const events = await sseReader(await ask({ ...jsonSchema, stream: true })).rest();
    const chunks = events.filter((e) => e !== '[DONE]').map((e) => JSON.parse(e) as { choices: { delta: { content?: string; tool_calls?: unknown }; finish_reason: string | null }[] });

    expect(streamedText(events)).toBe('{"city":"Oslo"}');
    expect(chunks.some((c) => c.choices[0]?.delta.tool_calls !== undefined)).toBe(false);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
    expect(events.at(-1)).toBe('[DONE]');
  });

  it('refuses a json_schema it cannot carry (beside tools, or not an object) with a 400, and passes json_object', async () => {
    const { edge, route, ask } = await setup();
    const withTools = await ask({ ...jsonSchema, tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] });
    expect(withTools.status).toBe(400);
    expect(await withTools.json()).toMatchObject({ error: { param: 'response_format' } });
    const notObject = await ask({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'array' } } } });
    expect(notObject.status).toBe(400);
    expect(edge.supplier.calls).toHaveLength(0);

    edge.supplier.script(route, anthropicMessage({ content: [{ type: 'text', text: '{}' }] }));
    const loose = await ask({ response_format: { type: 'json_object' } });
    expect(loose.status).toBe(200);
    await loose.text();
  });

  it('refuses logprobs with a 400: a client that asked for them reads them from the answer', async () => {
    const { edge, ask } = await setup();
    const refused = await ask({ logprobs: true, top_logprobs: 2 });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { param: 'logprobs' } });
    expect(edge.supplier.calls).toHaveLength(0);
  });
});
