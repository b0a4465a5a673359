// The fake supplier as the official @anthropic-ai/sdk sees it: message bodies, streamed events in
// their documented order, tool use, faults in Anthropic's error shape, and count_tokens.
import Anthropic from '@anthropic-ai/sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeSupplier } from '../../fake-supplier/server.ts';
import type { FakeSupplier } from '../../fake-supplier/server.ts';

const API_KEY = 'sk-ant-fake-test';
const USER_MESSAGE = 'Say something about the sea.';
const SYSTEM = 'Be brief.';
// The documented rule: characters of system prompt and text / 4, rounded up.
const INPUT_TOKENS = Math.ceil((USER_MESSAGE.length + SYSTEM.length) / 4);

let supplier: FakeSupplier;
let client: Anthropic;

beforeEach(async () => {
  supplier = await startFakeSupplier({ apiKey: API_KEY });
  // The SDK appends /v1/messages to its base URL.
  client = new Anthropic({ baseURL: supplier.url.replace(/\/v1$/, ''), apiKey: API_KEY, maxRetries: 0 });
});

afterEach(async () => {
  await supplier.close();
});

const request = { model: 'claude-fake', max_tokens: 100, system: SYSTEM, messages: [{ role: 'user' as const, content: USER_MESSAGE }] };
const weather = { name: 'get_weather', description: 'Weather in a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' }, days: { type: 'integer' } } } };

describe('fake supplier, Anthropic Messages', () => {
  it('answers a message with text content, end_turn and usage', async () => {
    const message = await client.messages.create(request);

    expect(message).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'claude-fake',
      content: [{ type: 'text', text: 'tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: INPUT_TOKENS, output_tokens: 8, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
    expect(message.id).toMatch(/^msg_/);
    expect(supplier.stats().requests).toBe(1);
    // This SDK version sends the key as a Bearer token; raw clients below send x-api-key.
    expect(supplier.stats().lastAuthorization).toContain(API_KEY);
  });

  it('stops at max_tokens with stop_reason max_tokens', async () => {
    const message = await client.messages.create({ ...request, max_tokens: 3 });
    expect(message.stop_reason).toBe('max_tokens');
    expect(message.usage.output_tokens).toBe(3);
  });

  it('streams the events in the documented order, usage in message_start and message_delta', async () => {
    supplier.setBehaviour({ completionTokens: 3 });
    const names: string[] = [];
    const stream = await client.messages.create({ ...request, stream: true });
    let text = '';
    let input = 0;
    let output = 0;
    for await (const event of stream) {
      names.push(event.type);
      if (event.type === 'message_start') input = event.message.usage.input_tokens;
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
      if (event.type === 'message_delta') output = event.usage.output_tokens;
    }
    // The SDK drops `ping`; the raw stream below checks it.
    expect(names).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    expect(text).toBe('tok0 tok1 tok2');
    expect({ input, output }).toEqual({ input: INPUT_TOKENS, output: 3 });
  });

  it('names every SSE event with event: lines, a ping after content_block_start', async () => {
    supplier.setBehaviour({ completionTokens: 1 });
    const res = await fetch(`${supplier.url}/messages`, {
      method: 'POST',
      headers: { 'x-api-key': API_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ ...request, stream: true }),
    });
    const raw = await res.text();
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect([...raw.matchAll(/^event: (\w+)$/gm)].map((m) => m[1])).toEqual([
      'message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop',
    ]);
  });

  it('streams a tool_use block as input_json_delta pieces the SDK assembles into the input', async () => {
    supplier.setBehaviour({ toolCall: true, completionTokens: 4 });
    const stream = client.messages.stream({ ...request, tools: [weather] });
    const message = await stream.finalMessage();

    expect(message.stop_reason).toBe('tool_use');
    expect(message.content).toEqual([{ type: 'tool_use', id: expect.stringMatching(/^toolu_/), name: 'get_weather', input: { city: 'tok0', days: 1 } }]);
  });

  it('answers injected failures in Anthropic\'s error shape, which the SDK raises with its type', async () => {
    supplier.setBehaviour({ failNext: { count: 1, status: 429 } });
    const err = await client.messages.create(request).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
  });

  it('refuses a wrong key with authentication_error and a missing max_tokens with invalid_request_error', async () => {
    const wrong = new Anthropic({ baseURL: supplier.url.replace(/\/v1$/, ''), apiKey: 'nope', maxRetries: 0 });
    await expect(wrong.messages.create(request)).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
    const res = await fetch(`${supplier.url}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: Field required' } });
  });

  it('refuses metadata keys other than user_id, as Anthropic does', async () => {
    await expect(client.messages.create({ ...request, metadata: { user_id: 'u-1' } })).resolves.toMatchObject({ type: 'message' });
    const err = await client.messages.create({ ...request, metadata: { user_id: 'u-1', session_id: 's' } as Anthropic.Metadata }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as InstanceType<typeof Anthropic.APIError>).message).toContain('metadata.session_id');
  });

  it('refuses what Anthropic refuses though well shaped: blank text blocks and stop sequences, empty messages, tool_choice without tools, tool ids outside its pattern', async () => {
    const refused = async (extra: Record<string, unknown>) => {
      const err = await client.messages.create({ ...request, ...extra } as Anthropic.MessageCreateParamsNonStreaming).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Anthropic.BadRequestError);
      expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
      return (err as InstanceType<typeof Anthropic.APIError>).message;
    };
    expect(await refused({ messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] })).toContain('messages.0.content.0.text');
    expect(await refused({ messages: [{ role: 'user', content: [{ type: 'text', text: ' \n' }] }] })).toContain('non-whitespace');
    expect(await refused({ stop_sequences: ['END', '\n'] })).toContain('stop_sequences');
    expect(await refused({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: [] }, { role: 'user', content: 'b' }] })).toContain('messages.1');
    expect(await refused({ messages: [{ role: 'user', content: '' }] })).toContain('messages.0');
    expect(await refused({ tool_choice: { type: 'none' } })).toContain('tool_choice');
    const badId = [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'functions.get_weather:0', name: 'get_weather', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'functions.get_weather:0', content: 'cold' }] },
    ];
    expect(await refused({ messages: badId, tools: [weather] })).toContain('^[a-zA-Z0-9_-]+$');
    // An empty final assistant message (a prefill of nothing) and tool_choice beside tools pass.
    await expect(client.messages.create({ ...request, messages: [...request.messages, { role: 'assistant', content: '' }] })).resolves.toMatchObject({ type: 'message' });
    await expect(client.messages.create({ ...request, tools: [weather], tool_choice: { type: 'none' }, stop_sequences: ['END'] })).resolves.toMatchObject({ type: 'message' });
  });

  it('ends the stream without message_stop when told to fail mid-stream', async () => {
    supplier.setBehaviour({ completionTokens: 5, failMidStreamAfterChunks: 2 });
    const names: string[] = [];
    const consumed = (async () => {
      for await (const event of await client.messages.create({ ...request, stream: true })) names.push(event.type);
    })();
    await expect(consumed).rejects.toThrow();
    expect(names).not.toContain('message_stop');
    expect(names.filter((n) => n === 'content_block_delta')).toHaveLength(2);
  });

  it('counts tokens of a request without generating anything', async () => {
    const { input_tokens } = await client.messages.countTokens({ model: 'claude-fake', system: SYSTEM, messages: request.messages });
    expect(input_tokens).toBe(INPUT_TOKENS);
  });
});
