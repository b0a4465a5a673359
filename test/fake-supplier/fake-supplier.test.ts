// The fake supplier as the official openai SDK sees it: wire shapes, streaming, injected faults,
// abort accounting and the /__control endpoints another process uses.
import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startFakeSupplier } from '../../fake-supplier/server.ts';
import type { FakeSupplier } from '../../fake-supplier/server.ts';

const API_KEY = 'sk-fake-test';
const USER_MESSAGE = 'Say something about the sea.';
// The documented rule: characters of message content / 4, rounded up.
const PROMPT_TOKENS = Math.ceil(USER_MESSAGE.length / 4);

let supplier: FakeSupplier;
let client: OpenAI;

beforeEach(async () => {
  supplier = await startFakeSupplier({ apiKey: API_KEY });
  client = new OpenAI({ baseURL: supplier.url, apiKey: API_KEY, maxRetries: 0 });
});

afterEach(async () => {
  await supplier.close();
});

const messages = [{ role: 'user' as const, content: USER_MESSAGE }];
const withUsage = { stream: true, stream_options: { include_usage: true } } as const;
const usage = (completion: number) => ({
  prompt_tokens: PROMPT_TOKENS,
  completion_tokens: completion,
  total_tokens: PROMPT_TOKENS + completion,
});
const controlUrl = (path: string): string => supplier.url.replace(/\/v1$/, `/__control/${path}`);

describe('fake supplier', () => {
  it('answers a chat completion with the requested model and predictable usage', async () => {
    const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });

    expect(completion.object).toBe('chat.completion');
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion.model).toBe('gpt-4o-mini');
    expect(completion.choices[0]?.message.content).toBe('tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7');
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(completion.usage).toMatchObject(usage(8));
    expect(supplier.stats()).toMatchObject({
      requests: 1,
      byModel: { 'gpt-4o-mini': 1 },
      lastAuthorization: `Bearer ${API_KEY}`,
    });
  });

  it('refuses metadata without store, as OpenAI does', async () => {
    await expect(client.chat.completions.create({ model: 'm', messages, metadata: { a: 'b' } })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(client.chat.completions.create({ model: 'm', messages, metadata: { a: 'b' }, store: true })).resolves.toMatchObject({ object: 'chat.completion' });
  });

  it('refuses an assistant message with null content and no tool calls, and a user longer than 64, as OpenAI does', async () => {
    const nullContent = [...messages, { role: 'assistant' as const, content: null }, { role: 'user' as const, content: 'more' }];
    const err = await client.chat.completions.create({ model: 'm', messages: nullContent }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.APIError>).message).toContain('messages[1].content');
    const long = await client.chat.completions.create({ model: 'm', messages, user: 'u'.repeat(65) }).catch((e: unknown) => e);
    expect(long).toBeInstanceOf(OpenAI.BadRequestError);
    expect((long as InstanceType<typeof OpenAI.APIError>).message).toContain("'user'");
    const call = { id: 'call_1', type: 'function' as const, function: { name: 'f', arguments: '{}' } };
    const withCall = [...messages, { role: 'assistant' as const, content: null, tool_calls: [call] }, { role: 'tool' as const, tool_call_id: 'call_1', content: 'ok' }];
    await expect(client.chat.completions.create({ model: 'm', messages: withCall, user: 'u'.repeat(64) })).resolves.toMatchObject({ object: 'chat.completion' });
  });

  it('stops at max_tokens with finish_reason length', async () => {
    const completion = await client.chat.completions.create({ model: 'm', messages, max_tokens: 3 });

    expect(completion.choices[0]?.message.content).toBe('tok0 tok1 tok2');
    expect(completion.choices[0]?.finish_reason).toBe('length');
    expect(completion.usage?.completion_tokens).toBe(3);
  });

  it('streams a role chunk, one chunk per token, a finish chunk and a usage chunk with empty choices', async () => {
    supplier.setBehaviour({ completionTokens: 4 });
    const stream = await client.chat.completions.create({ model: 'm', messages, ...withUsage });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(chunks).toHaveLength(1 + 4 + 1 + 1);
    expect(chunks[0]?.choices[0]?.delta).toMatchObject({ role: 'assistant', content: '' });
    expect(chunks.slice(1, 5).map((c) => c.choices[0]?.delta.content)).toEqual(['tok0', ' tok1', ' tok2', ' tok3']);
    expect(chunks[5]?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.slice(0, 6).every((c) => c.usage === null)).toBe(true);
    expect(chunks[6]?.choices).toEqual([]);
    expect(chunks[6]?.usage).toMatchObject(usage(4));
    expect(supplier.stats().lastBody).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('sends no usage chunk when include_usage is not requested', async () => {
    const stream = await client.chat.completions.create({ model: 'm', messages, stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(chunks).toHaveLength(1 + 8 + 1);
    expect(chunks.every((c) => c.choices.length === 1 && !('usage' in c))).toBe(true);
  });

  it('omits usage everywhere when reportUsage is false', async () => {
    supplier.setBehaviour({ reportUsage: false });
    const completion = await client.chat.completions.create({ model: 'm', messages });
    const stream = await client.chat.completions.create({ model: 'm', messages, ...withUsage });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(completion.usage).toBeUndefined();
    expect(chunks.some((c) => c.usage !== undefined || c.choices.length === 0)).toBe(false);
  });

  it('streams a tool call that the SDK assembles into valid JSON arguments', async () => {
    supplier.setBehaviour({ toolCall: true, completionTokens: 5 });
    const stream = client.chat.completions.stream({
      model: 'm',
      messages,
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } },
          },
        },
      ],
    });
    const completion = await stream.finalChatCompletion();
    const call = completion.choices[0]?.message.tool_calls?.[0];

    expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call?.type === 'function' ? call.function.name : undefined).toBe('get_weather');
    const args: unknown = JSON.parse(call?.type === 'function' ? call.function.arguments : '');
    expect(args).toEqual({ city: 'tok0', days: 1 });
  });

  it('answers with plain text when tool_choice is none even if toolCall is on', async () => {
    supplier.setBehaviour({ toolCall: true });
    const completion = await client.chat.completions.create({
      model: 'm',
      messages,
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }],
      tool_choice: 'none',
    });

    expect(completion.choices[0]?.message.content).toMatch(/^tok0/);
    expect(completion.choices[0]?.finish_reason).toBe('stop');
  });

  it('fails the next request with the injected status as an APIError, then recovers', async () => {
    supplier.setBehaviour({ failNext: { count: 1, status: 503 } });

    const error: unknown = await client.chat.completions.create({ model: 'm', messages }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    const recovered = await client.chat.completions.create({ model: 'm', messages });
    expect(recovered.object).toBe('chat.completion');
  });

  it('adds retry-after to an injected 429', async () => {
    supplier.setBehaviour({ failNext: { count: 1, status: 429 } });
    const response = await post('chat/completions', { model: 'm', messages });

    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(await response.json()).toMatchObject({ error: { type: 'requests', code: 'rate_limit_exceeded' } });
  });

  it('drops the connection without answering when asked to', async () => {
    supplier.setBehaviour({ dropConnectionNext: 1 });

    const error: unknown = await client.chat.completions.create({ model: 'm', messages }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(supplier.stats()).toMatchObject({ requests: 1, aborted: 0 });
  });

  it('breaks a stream after the configured number of content chunks', async () => {
    supplier.setBehaviour({ failMidStreamAfterChunks: 2 });
    const stream = await client.chat.completions.create({ model: 'm', messages, stream: true });
    const contents: string[] = [];
    const read = async (): Promise<void> => {
      for await (const chunk of stream) contents.push(chunk.choices[0]?.delta.content ?? '');
    };

    await expect(read()).rejects.toThrow();
    expect(contents).toEqual(['', 'tok0', ' tok1']);
  });

  it('writes each chunk separately so a delay between them is observable', async () => {
    const delay = 40;
    supplier.setBehaviour({ completionTokens: 5, interChunkDelayMs: delay });
    const stream = await client.chat.completions.create({ model: 'm', messages, stream: true });
    const arrivals: number[] = [];
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content) arrivals.push(performance.now());

    expect(arrivals).toHaveLength(5);
    expect((arrivals.at(-1) ?? 0) - (arrivals[0] ?? 0)).toBeGreaterThanOrEqual(4 * delay * 0.5);
  });

  it('counts a client that aborts mid-stream as aborted', async () => {
    supplier.setBehaviour({ completionTokens: 100, interChunkDelayMs: 20 });
    const stream = await client.chat.completions.create({ model: 'm', messages, stream: true });
    let seen = 0;
    for await (const _chunk of stream) if (++seen === 3) break; // breaking out aborts the request

    await vi.waitFor(() => expect(supplier.stats().aborted).toBe(1));
  });

  it('closes promptly while a request hangs', async () => {
    supplier.setBehaviour({ hang: true });
    const pending = client.chat.completions.create({ model: 'm', messages }).catch((e: unknown) => e);
    await vi.waitFor(() => expect(supplier.stats().requests).toBe(1));

    await supplier.close();
    expect(await pending).toBeInstanceOf(OpenAI.APIConnectionError);
    supplier = await startFakeSupplier(); // afterEach closes this one
  });

  it('reports each exchange to onExchange once its answer is written, streamed ones too (bench/breakdown.ts)', async () => {
    const exchanges: [bigint, bigint][] = [];
    const timed = await startFakeSupplier({ apiKey: API_KEY, onExchange: (arrived, answered) => exchanges.push([arrived, answered]) });
    try {
      const timedClient = new OpenAI({ baseURL: timed.url, apiKey: API_KEY, maxRetries: 0 });
      const before = process.hrtime.bigint();
      await timedClient.chat.completions.create({ model: 'm', messages });
      const stream = await timedClient.chat.completions.create({ model: 'm', messages, stream: true });
      for await (const chunk of stream) void chunk;
      await vi.waitFor(() => expect(exchanges).toHaveLength(2));
      const after = process.hrtime.bigint();
      for (const [arrived, answered] of exchanges) {
        expect(arrived).toBeGreaterThanOrEqual(before);
        expect(answered).toBeGreaterThan(arrived);
        expect(answered).toBeLessThanOrEqual(after);
      }
      // One at a time, in order: the stream arrived after the first answer was written.
      expect(exchanges[1]![0]).toBeGreaterThanOrEqual(exchanges[0]![1]);
    } finally {
      await timed.close();
    }
  });

  it('answers malformed JSON and a missing model with OpenAI error objects', async () => {
    const malformed = await post('chat/completions', '{"model":');
    const missingModel = await post('chat/completions', { messages });

    for (const response of [malformed, missingModel]) {
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: null },
      });
    }
  });

  it('rejects a wrong API key with a 401 the SDK recognises', async () => {
    const wrong = new OpenAI({ baseURL: supplier.url, apiKey: 'sk-wrong', maxRetries: 0 });

    const error: unknown = await wrong.chat.completions.create({ model: 'm', messages }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('lists models in the OpenAI list envelope', async () => {
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);

    expect(ids).toContain('gpt-4o-mini');
  });

  it('is controlled over HTTP by another process: behaviour, stats and reset', async () => {
    const set = await fetch(controlUrl('behaviour'), { method: 'POST', body: JSON.stringify({ completionTokens: 2 }) });
    expect(set.status).toBe(200);
    const completion = await client.chat.completions.create({ model: 'gpt-4o', messages });
    expect(completion.choices[0]?.message.content).toBe('tok0 tok1');

    const stats: unknown = await (await fetch(controlUrl('stats'))).json();
    expect(stats).toMatchObject({ requests: 1, byModel: { 'gpt-4o': 1 }, aborted: 0 });
    const invalid = await fetch(controlUrl('behaviour'), {
      method: 'POST',
      body: JSON.stringify({ completionTokens: 'many' }),
    });
    expect(invalid.status).toBe(400);

    await fetch(controlUrl('reset'), { method: 'POST' });
    expect(supplier.stats()).toMatchObject({ requests: 0, byModel: {}, lastBody: null });
    const after = await client.chat.completions.create({ model: 'm', messages });
    expect(after.usage?.completion_tokens).toBe(8);
  });
});

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${supplier.url}/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
