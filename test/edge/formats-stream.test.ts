// Streams translated event by event in both directions: each supplier event yields its client
// events at once (nothing is collected), tool call pieces map onto input_json_delta and back, and
// a broken stream ends with the client's error event and no end marker.
import { describe, expect, it } from 'vitest';
import { chatStreamToMessages } from '../../edge/formats/chat-stream-to-messages.ts';
import { messagesStreamToChat } from '../../edge/formats/messages-stream-to-chat.ts';
import { parseSseEvent } from '../../edge/sse.ts';
import { anthropicEvents } from './support/anthropic-replies.ts';
import { chunkEvent } from './support/fake-supplier.ts';

const ev = (raw: string) => parseSseEvent(raw.trim());
const data = (out: string) => JSON.parse(out.replace(/^data: /, '')) as Record<string, unknown>;
const nameOf = (out: string) => /^event: (\w+)/.exec(out)?.[1];

describe('Anthropic stream → OpenAI chunks', () => {
  const translator = () => messagesStreamToChat({ model: 'claude-public', created: 1, includeUsage: true, requestId: 'req_1' });

  it('answers each event as it comes: role, content pieces, finish, usage chunk, [DONE]', () => {
    const t = translator();
    const events = anthropicEvents({ texts: ['Hel', 'lo'], usage: { input_tokens: 10, output_tokens: 2, cache_read_input_tokens: 90 } });
    const perEvent = events.map((e) => t.push(ev(e)));
    // message_start gives the role chunk at once; ping and block start/stop give nothing.
    expect(perEvent[0]!.map(data)[0]).toMatchObject({ object: 'chat.completion.chunk', model: 'claude-public', choices: [{ delta: { role: 'assistant', content: '' } }] });
    const all = perEvent.flat();
    expect(all.filter((o) => o !== 'data: [DONE]').map(data).map((c) => (c.choices as { delta?: { content?: string } }[])[0]?.delta?.content ?? '').join('')).toBe('Hello');
    expect(data(all.at(-3)!)).toMatchObject({ choices: [{ delta: {}, finish_reason: 'stop' }] });
    expect(data(all.at(-2)!)).toMatchObject({ choices: [], usage: { prompt_tokens: 100, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 90 } } });
    expect(all.at(-1)).toBe('data: [DONE]');
    expect(t.usage()).toEqual({ input: 100, output: 2, cachedInput: 90, cacheWrite: 0, reasoning: 0 });
  });

  it('maps a tool_use block onto a tool call and its input_json_delta pieces onto argument pieces', () => {
    const t = translator();
    const out = anthropicEvents({ tool: { id: 'toolu_1', name: 'get_weather', pieces: ['{"ci', 'ty":"Oslo"}'] } }).flatMap((e) => t.push(ev(e)));
    const chunks = out.filter((o) => o !== 'data: [DONE]').map(data);
    const calls = chunks.flatMap((c) => (c.choices as { delta?: { tool_calls?: unknown[] } }[])[0]?.delta?.tool_calls ?? []);
    expect(calls).toEqual([
      { index: 0, id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '' } },
      { index: 0, function: { arguments: '{"ci' } },
      { index: 0, function: { arguments: 'ty":"Oslo"}' } },
    ]);
    expect(chunks.find((c) => (c.choices as { finish_reason?: string }[])[0]?.finish_reason)).toMatchObject({ choices: [{ finish_reason: 'tool_calls' }] });
  });

  it('gives a tool call whose input streamed as nothing the arguments "{}", as OpenAI does, not ""', () => {
    // Anthropic streams a call without parameters as no input_json_delta at all, or as partial_json "".
    for (const pieces of [[], ['']]) {
      const t = translator();
      const out = anthropicEvents({ tool: { id: 'toolu_1', name: 'list_files', pieces } }).flatMap((e) => t.push(ev(e)));
      const calls = out.filter((o) => o !== 'data: [DONE]').map(data).flatMap((c) => (c.choices as { delta?: { tool_calls?: { function: { arguments: string } }[] } }[])[0]?.delta?.tool_calls ?? []);
      expect(calls.map((c) => c.function.arguments).join('')).toBe('{}');
    }
    // A json_schema answer of {} likewise reads "{}", as the non-streamed answer does.
    const t = messagesStreamToChat({ model: 'm', created: 1, includeUsage: false, requestId: 'r', jsonAnswer: true });
    const out = anthropicEvents({ tool: { id: 'toolu_1', name: 'json_answer', pieces: [] } }).flatMap((e) => t.push(ev(e)));
    const content = out.filter((o) => o !== 'data: [DONE]').map(data).map((c) => (c.choices as { delta?: { content?: string } }[])[0]?.delta?.content ?? '').join('');
    expect(content).toBe('{}');
  });

  it('leaves out the usage chunk when the client did not ask for it, yet meters the usage', () => {
    const t = messagesStreamToChat({ model: 'm', created: 1, includeUsage: false, requestId: 'r' });
    const out = anthropicEvents({ texts: ['a'] }).flatMap((e) => t.push(ev(e)));
    expect(out.filter((o) => o.includes('"usage"'))).toEqual([]);
    expect(t.usage()).toMatchObject({ input: 11, output: 3 });
  });

  it('ends a stream cut short with OpenAI\'s error object and no [DONE]', () => {
    const t = translator();
    anthropicEvents({ texts: ['a', 'b'] }).slice(0, 4).forEach((e) => t.push(ev(e)));
    const tail = t.end();
    expect(tail).toHaveLength(1);
    expect(data(tail[0]!)).toMatchObject({ error: { code: 'upstream_failed', type: 'upstream_error', request_id: 'req_1' } });
    expect(t.failure()).toEqual([]);
  });

  it('turns a supplier error event mid-stream into OpenAI\'s error object', () => {
    const t = translator();
    t.push(ev(anthropicEvents({ texts: ['a'] })[0]!));
    const out = t.push(ev('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'));
    expect(data(out[0]!)).toMatchObject({ error: { code: 'upstream_failed' } });
    expect(t.end()).toEqual([]);
  });
});

describe('OpenAI chunks → Anthropic stream', () => {
  const translator = () => chatStreamToMessages({ model: 'open-public' });
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ev(chunkEvent('chatcmpl-1', 'm', [{ index: 0, delta, finish_reason: finish }]));

  it('opens with message_start, streams text deltas, and ends with message_delta and message_stop at [DONE]', () => {
    const t = translator();
    const first = t.push(chunk({ role: 'assistant', content: '' }));
    expect(first.map(nameOf)).toEqual(['message_start', 'ping']);
    expect(t.push(chunk({ content: 'Hel' })).map(nameOf)).toEqual(['content_block_start', 'content_block_delta']);
    expect(t.push(chunk({ content: 'lo' })).map(nameOf)).toEqual(['content_block_delta']);
    expect(t.push(chunk({}, 'length'))).toEqual([]);
    t.push(ev(chunkEvent('chatcmpl-1', 'm', [], { usage: { prompt_tokens: 50, completion_tokens: 2, total_tokens: 52, prompt_tokens_details: { cached_tokens: 40 } } })));
    const closing = t.push(ev('data: [DONE]'));
    expect(closing.map(nameOf)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    expect(JSON.parse(closing[1]!.split('\ndata: ')[1]!)).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'max_tokens', stop_sequence: null },
      usage: { input_tokens: 10, output_tokens: 2, cache_creation_input_tokens: 0, cache_read_input_tokens: 40 },
    });
    expect(t.usage()).toEqual({ input: 50, output: 2, cachedInput: 40, reasoning: 0 });
  });

  it('opens one tool_use block per tool call and sends argument pieces as input_json_delta', () => {
    const t = translator();
    const out = [
      chunk({ role: 'assistant', content: 'Checking.' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] }),
      chunk({}, 'tool_calls'),
      ev('data: [DONE]'),
    ].flatMap((e) => t.push(e));
    const events = out.map((o) => [nameOf(o), JSON.parse(o.split('\ndata: ')[1]!)] as const);
    expect(events.map(([n]) => n)).toEqual([
      'message_start', 'ping', 'content_block_start', 'content_block_delta', 'content_block_stop',
      'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop',
    ]);
    expect(events[5]![1]).toEqual({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'call_1', name: 'get_weather', input: {} } });
    expect(events[6]![1]).toEqual({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } });
    expect(events[9]![1]).toMatchObject({ delta: { stop_reason: 'tool_use' } });
  });

  it('ends a broken stream with event: error and no message_stop', () => {
    const t = translator();
    t.push(chunk({ role: 'assistant', content: 'a' }));
    const tail = t.failure();
    expect(tail.map(nameOf)).toEqual(['error']);
    expect(JSON.parse(tail[0]!.split('\ndata: ')[1]!)).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    expect(t.end()).toEqual([]);
  });
});
