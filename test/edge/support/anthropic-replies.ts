// Replies in Anthropic's wire format for the fake supplier fetch: a message body, a streamed
// message (events named and ordered as Anthropic sends them), and errors in Anthropic's shape.

import type { Reply } from './fake-supplier.ts';

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

export type Block = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

export function anthropicMessage(options: { content: Block[]; stopReason?: string; usage?: AnthropicUsage | null }): Reply {
  return async (call) => {
    const body: Record<string, unknown> = {
      id: 'msg_01',
      type: 'message',
      role: 'assistant',
      model: call.body.model,
      content: options.content,
      stop_reason: options.stopReason ?? 'end_turn',
      stop_sequence: null,
    };
    if (options.usage !== null) body.usage = options.usage ?? { input_tokens: 11, output_tokens: 7 };
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
  };
}

export const named = (name: string, data: Record<string, unknown>): string => `event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`;

/** The events of a streamed message: text pieces, then optionally one tool_use block with its JSON pieces. */
export function anthropicEvents(options: { texts?: string[]; tool?: { id: string; name: string; pieces: string[] }; stopReason?: string; usage?: AnthropicUsage }): string[] {
  const usage = options.usage ?? { input_tokens: 11, output_tokens: 3 };
  const events = [named('message_start', { message: { id: 'msg_01', type: 'message', role: 'assistant', model: 'claude-x', content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } })];
  let index = 0;
  if (options.texts) {
    events.push(named('content_block_start', { index, content_block: { type: 'text', text: '' } }), named('ping', {}));
    for (const text of options.texts) events.push(named('content_block_delta', { index, delta: { type: 'text_delta', text } }));
    events.push(named('content_block_stop', { index }));
    index++;
  }
  if (options.tool) {
    events.push(named('content_block_start', { index, content_block: { type: 'tool_use', id: options.tool.id, name: options.tool.name, input: {} } }));
    for (const piece of options.tool.pieces) events.push(named('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } }));
    events.push(named('content_block_stop', { index }));
  }
  events.push(named('message_delta', { delta: { stop_reason: options.stopReason ?? (options.tool ? 'tool_use' : 'end_turn'), stop_sequence: null }, usage: { output_tokens: usage.output_tokens } }));
  events.push(named('message_stop', {}));
  return events;
}

/** Streams the given events one per read; `failAfterEvents` errors the body after that many. */
export function eventStream(events: string[], options: { failAfterEvents?: number } = {}): Reply {
  return async () => {
    const encoder = new TextEncoder();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (options.failAfterEvents !== undefined && sent >= options.failAfterEvents) {
            controller.error(new Error('supplier connection reset'));
            return;
          }
          const event = events[sent++];
          if (event === undefined) controller.close();
          else controller.enqueue(encoder.encode(event));
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  };
}

export function anthropicError(status: number, type: string, message: string): Reply {
  return async () => new Response(JSON.stringify({ type: 'error', error: { type, message } }), { status, headers: { 'content-type': 'application/json' } });
}

/** Splits a raw SSE text into [event name, parsed data] pairs. */
export function namedEvents(raw: string): [string, Record<string, unknown>][] {
  return raw
    .split('\n\n')
    .filter((e) => e.trim() !== '')
    .map((e) => {
      const name = /^event: (.+)$/m.exec(e)?.[1] ?? '';
      const data = /^data: (.*)$/m.exec(e)?.[1] ?? '{}';
      return [name, JSON.parse(data) as Record<string, unknown>];
    });
}
