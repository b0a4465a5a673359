// OpenAI chat.completion.chunk events as Anthropic's streamed events, one event at a time:
// message_start on the first chunk, a text block for content, one tool_use block per tool call with
// its argument pieces as input_json_delta, then at [DONE] message_delta (stop reason and the usage
// the supplier reported last) and message_stop. One block is open at a time, as Anthropic streams.
// A stream that breaks or ends early ends with `event: error` instead, and no message_stop.

import { ChatUsage } from '../../shared/openai-chat.ts';
import type { SseEvent } from '../sse.ts';
import { stopReasonFromFinish } from './stop-reason.ts';
import { parseJsonObject, sseNamed, type StreamTranslator } from './stream-translator.ts';
import { anthropicUsageFromChat, meteredFromChat } from './token-usage.ts';

type Open = { kind: 'text' } | { kind: 'tool'; openAiIndex: number };

export function chatStreamToMessages(options: { model: string }): StreamTranslator {
  let started = false;
  let finished = false;
  let finish: string | null = null;
  let usage: ChatUsage | null = null;
  let blocks = 0;
  let open: Open | null = null;
  let deltas = 0;
  const toolBlock = new Map<number, number>();

  const start = (id: unknown): string[] => {
    if (started) return [];
    started = true;
    const message = { id: `msg_${String(id ?? '')}`, type: 'message', role: 'assistant', model: options.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } };
    return [sseNamed('message_start', { type: 'message_start', message }), sseNamed('ping', { type: 'ping' })];
  };
  const close = (): string[] => {
    if (!open) return [];
    open = null;
    return [sseNamed('content_block_stop', { type: 'content_block_stop', index: blocks - 1 })];
  };
  const openBlock = (next: Open, contentBlock: Record<string, unknown>): string[] => {
    const out = close();
    open = next;
    out.push(sseNamed('content_block_start', { type: 'content_block_start', index: blocks, content_block: contentBlock }));
    blocks++;
    return out;
  };
  const delta = (index: number, value: Record<string, unknown>) => {
    deltas++;
    return sseNamed('content_block_delta', { type: 'content_block_delta', index, delta: value });
  };
  const failed = (message: string): string[] => {
    finished = true;
    return [sseNamed('error', { type: 'error', error: { type: 'api_error', message } })];
  };
  const complete = (): string[] => {
    finished = true;
    const counts = usage ? anthropicUsageFromChat(usage) : null;
    return [
      ...start(''),
      ...close(),
      sseNamed('message_delta', { type: 'message_delta', delta: { stop_reason: stopReasonFromFinish(finish), stop_sequence: null }, usage: counts ?? { output_tokens: 0 } }),
      sseNamed('message_stop', { type: 'message_stop' }),
    ];
  };

  return {
    push(event: SseEvent): string[] {
      if (finished) return [];
      if (event.data.trim() === '[DONE]') return complete();
      const data = parseJsonObject(event.data);
      if (!data) return [];
      if (data.error !== undefined) return failed('The supplier failed mid-stream.');
      const out = start(data.id);
      const parsedUsage = data.usage ? ChatUsage.safeParse(data.usage) : null;
      if (parsedUsage?.success) usage = parsedUsage.data;
      const choice = Array.isArray(data.choices) ? (data.choices[0] as Record<string, unknown> | undefined) : undefined;
      const d = (choice?.delta ?? {}) as Record<string, unknown>;
      if (typeof d.content === 'string' && d.content !== '') {
        if (open?.kind !== 'text') out.push(...openBlock({ kind: 'text' }, { type: 'text', text: '' }));
        out.push(delta(blocks - 1, { type: 'text_delta', text: d.content }));
      }
      for (const call of Array.isArray(d.tool_calls) ? (d.tool_calls as Record<string, unknown>[]) : []) {
        const index = typeof call.index === 'number' ? call.index : 0;
        const fn = (call.function ?? {}) as Record<string, unknown>;
        if (!toolBlock.has(index)) {
          out.push(...openBlock({ kind: 'tool', openAiIndex: index }, { type: 'tool_use', id: String(call.id ?? ''), name: String(fn.name ?? ''), input: {} }));
          toolBlock.set(index, blocks - 1);
        }
        if (typeof fn.arguments === 'string' && fn.arguments !== '') out.push(delta(toolBlock.get(index)!, { type: 'input_json_delta', partial_json: fn.arguments }));
      }
      if (typeof choice?.finish_reason === 'string') finish = choice.finish_reason;
      return out;
    },
    // Some OpenAI-compatible servers omit [DONE]; a stream that reached its finish reason is whole.
    end: () => (finished ? [] : finish !== null ? complete() : failed('The supplier ended the stream early.')),
    failure: () => (finished ? [] : failed('The supplier failed mid-stream.')),
    usage: () => (usage ? meteredFromChat(usage) : null),
    outputEstimate: () => deltas,
  };
}
