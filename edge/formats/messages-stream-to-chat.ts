// Anthropic's streamed events as OpenAI chat.completion.chunk events, one event at a time:
// message_start gives the role chunk, text_delta a content chunk, a tool_use block its tool call
// with input_json_delta as argument pieces (and "{}" for a call whose input streamed as nothing,
// as OpenAI sends it), message_delta the finish chunk, message_stop the usage
// chunk (when asked for) and `data: [DONE]`. A stream that breaks or ends early ends with OpenAI's
// error object instead, and no [DONE].

import { MessagesUsage } from '../../shared/anthropic-messages.ts';
import { errorBody } from '../../shared/errors.ts';
import type { MeteredUsage } from '../metering.ts';
import type { SseEvent } from '../sse.ts';
import { JSON_ANSWER_TOOL } from './chat-to-messages-request.ts';
import { finishReasonFromStop, type FinishReason } from './stop-reason.ts';
import { parseJsonObject, sseData, type StreamTranslator } from './stream-translator.ts';
import { chatUsageFromAnthropic, countsFromMessagesUsage, meteredFromAnthropic, type AnthropicCounts } from './token-usage.ts';

export interface AnthropicStreamUsage {
  /** message_start's `message.usage`. */
  start(value: unknown): void;
  /** message_delta's `usage`: cumulative; input and cache counts appear there only in newer API versions. */
  delta(value: unknown): void;
  /** The counts once the output is final (message_delta's), else null. */
  final(): AnthropicCounts | null;
  /** What to bill: `outputEstimate` (from what streamed) stands for an output never reported; null before any report. */
  metered(outputEstimate: number): MeteredUsage | null;
}

/**
 * The usage an Anthropic stream reported so far. message_start's input and cache counts are real,
 * but its output_tokens is a placeholder (1): the output is known only from message_delta. A
 * stream cut before it (a client that left, a supplier that died or sent an error event) bills
 * the real input and the output estimated from what streamed, flagged estimated; before, it
 * billed the placeholder, one output token, as a real report.
 */
export function anthropicStreamUsage(): AnthropicStreamUsage {
  let counts: AnthropicCounts | null = null;
  let outputFinal = false;
  return {
    start(value) {
      const parsed = MessagesUsage.safeParse(value);
      if (parsed.success) counts = countsFromMessagesUsage(parsed.data);
    },
    delta(value) {
      const parsed = MessagesUsage.safeParse(value);
      if (!parsed.success) return;
      const next = countsFromMessagesUsage(parsed.data);
      outputFinal = true;
      counts = counts
        ? {
            input_tokens: parsed.data.input_tokens ?? counts.input_tokens,
            output_tokens: next.output_tokens,
            cache_creation_input_tokens: parsed.data.cache_creation_input_tokens ?? counts.cache_creation_input_tokens,
            cache_read_input_tokens: parsed.data.cache_read_input_tokens ?? counts.cache_read_input_tokens,
          }
        : next;
    },
    final: () => (outputFinal ? counts : null),
    metered(outputEstimate) {
      if (!counts) return null;
      if (outputFinal) return meteredFromAnthropic(counts);
      return { ...meteredFromAnthropic({ ...counts, output_tokens: outputEstimate }), estimated: true };
    },
  };
}

/** `jsonAnswer`: as in message-to-chat-completion.ts, JSON_ANSWER_TOOL's input streams as content. */
export function messagesStreamToChat(options: { model: string; created: number; includeUsage: boolean; requestId: string; jsonAnswer?: boolean }): StreamTranslator {
  let id = 'chatcmpl-';
  const usage = anthropicStreamUsage();
  let finish: FinishReason | null = null;
  let finished = false;
  let deltas = 0;
  // Anthropic numbers content blocks; OpenAI numbers tool calls only.
  const toolIndex = new Map<number, number>();
  /** The content block that carries a json_schema answer, if any. */
  let answerBlock: number | null = null;
  /** tool_use blocks (and the answer block) that streamed some input JSON. */
  const withInput = new Set<number>();

  const chunk = (delta: Record<string, unknown>, finishReason: FinishReason | null = null) =>
    sseData({ id, object: 'chat.completion.chunk', created: options.created, model: options.model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] });
  const failed = (message: string) => {
    finished = true;
    return [sseData(errorBody('upstream_failed', message, { requestId: options.requestId }))];
  };

  return {
    push(event: SseEvent): string[] {
      if (finished) return [];
      const data = parseJsonObject(event.data);
      const type = event.event ?? (typeof data?.type === 'string' ? data.type : null);
      if (!data) return [];
      switch (type) {
        case 'message_start': {
          const message = (data.message ?? {}) as Record<string, unknown>;
          id = `chatcmpl-${String(message.id ?? '')}`;
          usage.start(message.usage);
          return [chunk({ role: 'assistant', content: '' })];
        }
        case 'content_block_start': {
          const block = (data.content_block ?? {}) as Record<string, unknown>;
          if (block.type !== 'tool_use') return [];
          if (options.jsonAnswer && block.name === JSON_ANSWER_TOOL && answerBlock === null) {
            answerBlock = Number(data.index);
            return [];
          }
          const index = toolIndex.size;
          toolIndex.set(Number(data.index), index);
          return [chunk({ tool_calls: [{ index, id: String(block.id ?? ''), type: 'function', function: { name: String(block.name ?? ''), arguments: '' } }] })];
        }
        case 'content_block_delta': {
          const delta = (data.delta ?? {}) as Record<string, unknown>;
          if (delta.type === 'text_delta' && typeof delta.text === 'string') {
            deltas++;
            return [chunk({ content: delta.text })];
          }
          // An empty piece (Anthropic sends `partial_json: ""` for a call without parameters) says nothing.
          if (delta.type === 'input_json_delta' && delta.partial_json === '') return [];
          if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string') withInput.add(Number(data.index));
          if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string' && Number(data.index) === answerBlock) {
            deltas++;
            return [chunk({ content: delta.partial_json })];
          }
          const index = toolIndex.get(Number(data.index));
          if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string' && index !== undefined) {
            deltas++;
            return [chunk({ tool_calls: [{ index, function: { arguments: delta.partial_json } }] })];
          }
          // thinking and signature deltas have no place in a chat completion; thinking is still
          // output the supplier generated and bills, so it counts towards a cut stream's estimate.
          if (delta.type === 'thinking_delta') deltas++;
          return [];
        }
        case 'content_block_stop': {
          // A tool_use block with input {} may stream no input at all; OpenAI's arguments are then
          // "{}", never "", and clients JSON.parse them.
          const blockIndex = Number(data.index);
          if (withInput.has(blockIndex)) return [];
          if (blockIndex === answerBlock) return [chunk({ content: '{}' })];
          const index = toolIndex.get(blockIndex);
          return index === undefined ? [] : [chunk({ tool_calls: [{ index, function: { arguments: '{}' } }] })];
        }
        case 'message_delta': {
          usage.delta(data.usage);
          const stop = ((data.delta ?? {}) as Record<string, unknown>).stop_reason as string | null;
          // The forced answer tool is how the model answered, not a tool call for the client.
          finish = answerBlock !== null && stop === 'tool_use' ? 'stop' : (finishReasonFromStop(stop) ?? 'stop');
          return [chunk({}, finish)];
        }
        case 'message_stop': {
          finished = true;
          const out: string[] = [];
          // No usage chunk without a final output count: message_start's placeholder is no report.
          const counts = usage.final();
          if (options.includeUsage && counts) {
            out.push(sseData({ id, object: 'chat.completion.chunk', created: options.created, model: options.model, choices: [], usage: chatUsageFromAnthropic(counts) }));
          }
          out.push('data: [DONE]');
          return out;
        }
        case 'error': {
          const error = (data.error ?? {}) as Record<string, unknown>;
          return failed(`The supplier failed mid-stream (${String(error.type ?? 'error')}).`);
        }
        default:
          // ping, and event types added later.
          return [];
      }
    },
    end: () => (finished ? [] : failed('The supplier ended the stream early.')),
    failure: () => (finished ? [] : failed('The supplier failed mid-stream.')),
    usage: () => usage.metered(deltas),
    outputEstimate: () => deltas,
  };
}
