// The Responses surface (/v1/responses and /v1/codex/responses): requests translated to chat
// completions for the supplier, answers translated back, streams event by event in the real
// API's order, function calls both ways, and what the gateway refuses to pretend it supports.
import { describe, expect, it } from 'vitest';
import { deferred, within } from './support/deferred.ts';
import { chunkEvent, completion, stream, usageOf, type Reply } from './support/fake-supplier.ts';
import { buildModel, buildRoute } from './support/manifest-builder.ts';
import { scenario } from './support/scenario.ts';
import { sseReader } from './support/sse.ts';
import { anthropicEvents, anthropicMessage, eventStream } from './support/anthropic-replies.ts';

interface Event {
  type: string;
  sequence_number: number;
  [field: string]: unknown;
}

async function readEvents(response: Response): Promise<Event[]> {
  return (await sseReader(response).rest()).map((data) => JSON.parse(data) as Event);
}

/** A chat stream whose assistant calls one tool, its arguments in pieces. */
function toolCallStream(name: string, pieces: readonly string[]): Reply {
  return async (call) => {
    const id = 'chatcmpl-tool';
    const events = [
      chunkEvent(id, call.body.model, [{ index: 0, delta: { role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_abc', type: 'function', function: { name, arguments: '' } }] }, finish_reason: null }]),
      ...pieces.map((p) => chunkEvent(id, call.body.model, [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: p } }] }, finish_reason: null }])),
      chunkEvent(id, call.body.model, [{ index: 0, delta: {}, finish_reason: 'tool_calls' }]),
      chunkEvent(id, call.body.model, [], { usage: usageOf(30, 9) }),
      'data: [DONE]\n\n',
    ];
    return new Response(events.join(''), { headers: { 'content-type': 'text/event-stream' } });
  };
}

describe('POST /v1/responses', () => {
  it('translates input items, instructions and function tools into a chat request for the upstream model', async () => {
    const s = await scenario();
    const route = s.model.routes[0]!;
    s.edge.supplier.script(route, completion({ content: 'ok' }));

    const res = await s.edge.send('/v1/responses', {
      key: s.key.token,
      body: {
        model: s.model.id,
        instructions: 'Be brief.',
        input: [
          { role: 'user', content: [{ type: 'input_text', text: 'Weather in Paris?' }, { type: 'input_image', image_url: 'https://img.test/a.png' }] },
          { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { type: 'function_call_output', call_id: 'call_1', output: '{"temp":21}' },
        ],
        tools: [{ type: 'function', name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
        tool_choice: 'auto',
        max_output_tokens: 50,
        temperature: 0.2,
        store: true,
      },
    });
    expect(res.status).toBe(200);
    const [call] = s.edge.supplier.callsTo(route);
    expect(call!.url).toBe(`${route.base_url}/chat/completions`);
    expect(call!.body).toEqual({
      model: route.upstream_model,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }, { type: 'image_url', image_url: { url: 'https://img.test/a.png' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      tool_choice: 'auto',
      max_tokens: 50,
      temperature: 0.2,
    });
  });

  it('answers a response object with a message item, usage renamed, and store false', async () => {
    const s = await scenario();
    s.edge.supplier.script(s.model.routes[0]!, completion({ content: 'Hello!', usage: { ...usageOf(11, 7), prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 2 } } as never }));

    const res = await s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, input: 'Hi', store: true } });
    const body = (await res.json()) as Record<string, unknown>;
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(body).toMatchObject({
      object: 'response',
      status: 'completed',
      model: s.model.id,
      store: false,
      output: [{ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Hello!', annotations: [] }] }],
      usage: { input_tokens: 11, output_tokens: 7, total_tokens: 18, input_tokens_details: { cached_tokens: 4 }, output_tokens_details: { reasoning_tokens: 2 } },
    });
    expect(body.id).toMatch(/^resp_/);
    await s.edge.settle();
    expect(s.edge.events()[0]).toMatchObject({ endpoint: '/v1/responses', input_tokens: 11, output_tokens: 7, estimated: false, status: 200 });
  });

  it('answers tool calls as function_call items, and a length stop as incomplete', async () => {
    const s = await scenario();
    s.edge.supplier.script(s.model.routes[0]!, async (call) =>
      Response.json({
        id: 'x',
        object: 'chat.completion',
        model: call.body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] }, finish_reason: 'tool_calls' }],
        usage: usageOf(5, 3),
      }),
    );
    const tool = await (await s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, input: 'x', tools: [{ type: 'function', name: 'f', parameters: {} }] } })).json();
    expect(tool).toMatchObject({ status: 'completed', output: [{ type: 'function_call', call_id: 'call_9', name: 'f', arguments: '{"a":1}', status: 'completed' }] });

    s.edge.supplier.script(s.model.routes[0]!, async (call) =>
      Response.json({ id: 'y', object: 'chat.completion', model: call.body.model, choices: [{ index: 0, message: { role: 'assistant', content: 'cut' }, finish_reason: 'length' }], usage: usageOf(5, 3) }),
    );
    const cut = await (await s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, input: 'x', max_output_tokens: 3 } })).json();
    expect(cut).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
  });

  it('streams the real event names in order, each with its sequence number, and meters the usage', async () => {
    const s = await scenario();
    s.edge.supplier.script(s.model.routes[0]!, stream({ contents: ['Hel', 'lo'], usage: usageOf(12, 2) }));

    const res = await s.edge.send('/v1/codex/responses', { key: s.key.token, body: { model: s.model.id, input: 'Hi', stream: true } });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const raw = await res.clone().text();
    expect(raw).toMatch(/^event: response\.created\ndata: \{/);
    const events = await readEvents(res);

    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta)).toEqual(['Hel', 'lo']);
    expect(events.find((e) => e.type === 'response.output_text.done')).toMatchObject({ text: 'Hello' });
    expect(events.at(-1)).toMatchObject({
      response: { status: 'completed', output: [{ type: 'message', content: [{ type: 'output_text', text: 'Hello' }] }], usage: { input_tokens: 12, output_tokens: 2 } },
    });
    await s.edge.settle();
    expect(s.edge.events()[0]).toMatchObject({ endpoint: '/v1/codex/responses', input_tokens: 12, output_tokens: 2, estimated: false });
  });

  it('forwards each event as the supplier sends it, before the rest exists', async () => {
    const s = await scenario();
    const release = deferred();
    s.edge.supplier.script(s.model.routes[0]!, stream({ contents: ['a', 'b'], holdAfterFirst: release }));
    const res = await within(s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, input: 'Hi', stream: true } }), 500, 'headers');
    const reader = sseReader(res);
    const first = JSON.parse((await within(reader.next(), 500, 'first event'))!) as Event;
    expect(first.type).toBe('response.created');
    release.resolve();
    await reader.rest();
  });

  it('streams function call arguments as delta and done events inside a function_call item', async () => {
    const s = await scenario();
    s.edge.supplier.script(s.model.routes[0]!, toolCallStream('get_weather', ['{"ci', 'ty":"Paris"}']));
    const events = await readEvents(
      await s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, input: 'x', stream: true, tools: [{ type: 'function', name: 'get_weather', parameters: {} }] } }),
    );
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events[2]).toMatchObject({ item: { type: 'function_call', call_id: 'call_abc', name: 'get_weather', arguments: '', status: 'in_progress' } });
    expect(events[5]).toMatchObject({ arguments: '{"city":"Paris"}' });
    expect(events.at(-1)).toMatchObject({ response: { output: [{ type: 'function_call', arguments: '{"city":"Paris"}', status: 'completed' }], usage: { input_tokens: 30, output_tokens: 9 } } });
  });

  it('ends a stream cut by the supplier with an error event and no response.completed', async () => {
    const s = await scenario();
    s.edge.supplier.script(s.model.routes[0]!, stream({ contents: ['a', 'b', 'c'], failAfterEvents: 2 }));
    const events = await readEvents(await s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, input: 'x', stream: true } }));
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'upstream_failed' });
    expect(events.some((e) => e.type === 'response.completed')).toBe(false);
  });

  it('ends with an error event, never response.completed, when the supplier sends an error chunk mid-stream', async () => {
    const s = await scenario();
    const model = s.model.routes[0]!.upstream_model;
    const events = [
      chunkEvent('chatcmpl-x', model, [{ index: 0, delta: { role: 'assistant', content: 'Par' }, finish_reason: null }]),
      `data: ${JSON.stringify({ error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null } })}\n\n`,
      chunkEvent('chatcmpl-x', model, [{ index: 0, delta: { content: 'tial' }, finish_reason: 'stop' }]),
    ];
    s.edge.supplier.script(s.model.routes[0]!, async () => new Response(events.join(''), { headers: { 'content-type': 'text/event-stream' } }));
    const got = await readEvents(await s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, input: 'x', stream: true } }));
    expect(got.at(-1)).toMatchObject({ type: 'error', code: 'upstream_failed' });
    expect(got.filter((e) => e.type === 'error')).toHaveLength(1);
    expect(got.some((e) => e.type === 'response.completed' || e.type === 'response.incomplete')).toBe(false);
    expect(got.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta)).toEqual(['Par']);
  });

  it('ends with an error event when an OpenAI-format stream ends before its finish reason', async () => {
    const s = await scenario();
    const model = s.model.routes[0]!.upstream_model;
    const cut = chunkEvent('chatcmpl-x', model, [{ index: 0, delta: { role: 'assistant', content: 'Par' }, finish_reason: null }]);
    s.edge.supplier.script(s.model.routes[0]!, async () => new Response(cut, { headers: { 'content-type': 'text/event-stream' } }));
    const got = await readEvents(await s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, input: 'x', stream: true } }));
    expect(got.at(-1)).toMatchObject({ type: 'error', code: 'upstream_failed' });
    expect(got.some((e) => e.type === 'response.completed')).toBe(false);
  });

  it('ends with an error event, never response.completed, when an Anthropic-format stream sends event: error or ends before message_stop', async () => {
    const overloaded = 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n';
    const whole = anthropicEvents({ texts: ['Bon', 'jour'] });
    // message_start, block start, ping, one delta: then the error event, or nothing more.
    for (const events of [[...whole.slice(0, 4), overloaded], whole.slice(0, 4), whole.slice(0, -1)]) {
      const route = buildRoute({ format: 'anthropic' });
      const s = await scenario({ model: buildModel({ routes: [route] }) });
      s.edge.supplier.script(route, eventStream(events));
      const got = await readEvents(await s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, input: 'x', stream: true } }));
      expect(got.at(-1)).toMatchObject({ type: 'error', code: 'upstream_failed' });
      expect(got.filter((e) => e.type === 'error')).toHaveLength(1);
      expect(got.some((e) => e.type === 'response.completed' || e.type === 'response.incomplete')).toBe(false);
    }
  });

  it('streams the arguments "{}" for a call without parameters, from an Anthropic-format or an OpenAI-format stream', async () => {
    const route = buildRoute({ format: 'anthropic' });
    const s = await scenario({ model: buildModel({ routes: [route] }) });
    s.edge.supplier.script(route, eventStream(anthropicEvents({ tool: { id: 'toolu_1', name: 'list_files', pieces: [''] } })));
    const body = { model: s.model.id, input: 'x', stream: true, tools: [{ type: 'function', name: 'list_files', parameters: {} }] };
    const fromClaude = await readEvents(await s.edge.send('/v1/responses', { key: s.key.token, body }));
    expect(fromClaude.filter((e) => e.type === 'response.function_call_arguments.delta').map((e) => e.delta).join('')).toBe('{}');
    expect(fromClaude.find((e) => e.type === 'response.function_call_arguments.done')).toMatchObject({ arguments: '{}' });
    expect(fromClaude.at(-1)).toMatchObject({ type: 'response.completed', response: { output: [{ type: 'function_call', arguments: '{}' }] } });

    const o = await scenario();
    o.edge.supplier.script(o.model.routes[0]!, toolCallStream('list_files', []));
    const fromOpenAi = await readEvents(await o.edge.send('/v1/responses', { key: o.key.token, body: { ...body, model: o.model.id } }));
    expect(fromOpenAi.filter((e) => e.type === 'response.function_call_arguments.delta').map((e) => e.delta)).toEqual(['{}']);
    expect(fromOpenAi.at(-1)).toMatchObject({ type: 'response.completed', response: { output: [{ type: 'function_call', arguments: '{}' }] } });
  });

  it('refuses a tool_choice other than a named function (allowed_tools, hosted tools) with a 400 naming tool_choice', async () => {
    const s = await scenario();
    const tools = [{ type: 'function', name: 'get_weather', parameters: {} }];
    for (const tool_choice of [{ type: 'allowed_tools', mode: 'auto', tools: [{ type: 'function', name: 'get_weather' }] }, { type: 'file_search' }, { type: 'function' }]) {
      const res = await s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, input: 'x', tools, tool_choice } });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { param: 'tool_choice', type: 'invalid_request_error' } });
    }
    expect(s.edge.supplier.calls).toHaveLength(0);
  });

  it('refuses previous_response_id and server-side tools with a 400 naming the field, without calling a supplier', async () => {
    const s = await scenario();
    const prev = await s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, input: 'x', previous_response_id: 'resp_1' } });
    expect(prev.status).toBe(400);
    expect(await prev.json()).toMatchObject({ error: { param: 'previous_response_id', type: 'invalid_request_error' } });
    const tool = await s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, input: 'x', tools: [{ type: 'web_search' }] } });
    expect(tool.status).toBe(400);
    expect(await tool.json()).toMatchObject({ error: { param: 'tools.0' } });
    expect(s.edge.supplier.calls).toHaveLength(0);
  });

  it('reaches an Anthropic-format route through chat translation and answers a response object with its usage', async () => {
    const route = buildRoute({ format: 'anthropic' });
    const s = await scenario({ model: buildModel({ routes: [route] }) });
    s.edge.supplier.script(route, anthropicMessage({ content: [{ type: 'text', text: 'Bonjour' }], usage: { input_tokens: 5, output_tokens: 2, cache_read_input_tokens: 40 } }));
    const res = await s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, instructions: 'Be brief.', input: 'Say hello in French' } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      object: 'response',
      status: 'completed',
      output: [{ type: 'message', content: [{ type: 'output_text', text: 'Bonjour' }] }],
      usage: { input_tokens: 45, output_tokens: 2, input_tokens_details: { cached_tokens: 40 } },
    });
    const [call] = s.edge.supplier.callsTo(route);
    expect(call!.url).toBe(`${route.base_url}/messages`);
    expect(call!.body).toMatchObject({ system: [{ type: 'text', text: 'Be brief.' }], messages: [{ role: 'user' }] });
    await s.edge.settle();
    expect(s.edge.events()).toMatchObject([{ input_tokens: 45, output_tokens: 2, estimated: false }]);
  });

  it('streams Responses events from an Anthropic-format stream, event by event, ending with the usage', async () => {
    const route = buildRoute({ format: 'anthropic' });
    const s = await scenario({ model: buildModel({ routes: [route] }) });
    s.edge.supplier.script(route, eventStream(anthropicEvents({ texts: ['Bon', 'jour'], usage: { input_tokens: 7, output_tokens: 2 } })));
    const events = await readEvents(await s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, input: 'x', stream: true } }));
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('response.created');
    expect(types.filter((t) => t === 'response.output_text.delta')).toHaveLength(2);
    expect(types.at(-1)).toBe('response.completed');
    expect(events.at(-1)).toMatchObject({ response: { usage: { input_tokens: 7, output_tokens: 2 } } });
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
  });

  it('answers a json_schema text.format from an Anthropic-format route as output text, through a forced tool', async () => {
    const route = buildRoute({ format: 'anthropic' });
    const s = await scenario({ model: buildModel({ routes: [route] }) });
    const schema = { type: 'object', properties: { word: { type: 'string' } } };
    s.edge.supplier.script(route, anthropicMessage({ content: [{ type: 'tool_use', id: 'toolu_1', name: 'json_answer', input: { word: 'Bonjour' } }], stopReason: 'tool_use' }));
    const res = await s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, input: 'x', text: { format: { type: 'json_schema', name: 'w', schema } } } });
    const body = (await res.json()) as { status: string; output: { type: string; content?: { text: string }[] }[] };
    expect(body.status).toBe('completed');
    expect(body.output.map((o) => o.type)).toEqual(['message']);
    expect(JSON.parse(body.output[0]!.content![0]!.text)).toEqual({ word: 'Bonjour' });
    expect(s.edge.supplier.callsTo(route)[0]!.body.tool_choice).toEqual({ type: 'tool', name: 'json_answer' });
  });

  it('refuses a model of another type with a 400 naming its type, and calls no supplier', async () => {
    const s = await scenario({ model: { type: 'embedding' } });
    const res = await s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, input: 'x' } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('embedding model');
    expect(s.edge.supplier.calls).toHaveLength(0);
  });
});
