// A chat.completion.chunk stream as Responses API stream events, chunk by chunk: each upstream
// chunk yields its events at once (nothing waits for the end). Event names, order and fields
// follow https://platform.openai.com/docs/api-reference/responses-streaming; every event carries
// its `sequence_number`. The text of open items is held in memory only to send the `.done` events
// and the final `response.completed`, as the real API does; it is never logged or stored. A
// supplier error in the stream (an OpenAI `{"error":…}` chunk, or the one messages-stream-to-chat
// makes of Anthropic's `event: error` and of a stream cut before message_stop), or a stream that
// ends before its finish reason, ends it as a broken read does: an `error` event, never
// `response.completed` over a cut answer.

import { chatUsageOf } from '../metering.ts';
import type { ResponsesRequest } from '../../shared/openai-responses.ts';
import type { MeteredUsage } from '../metering.ts';
import {
  functionCallItem,
  functionItemId,
  messageItem,
  messageItemId,
  outputTextPart,
  responseObject,
  statusOf,
  type OutputItem,
  type ResponseIds,
} from './responses-object.ts';

interface OpenMessage {
  kind: 'message';
  outputIndex: number;
  id: string;
  text: string;
}
interface OpenCall {
  kind: 'call';
  outputIndex: number;
  id: string;
  callId: string;
  name: string;
  arguments: string;
}

interface ChunkChoice {
  delta?: { content?: unknown; tool_calls?: { index?: unknown; id?: unknown; function?: { name?: unknown; arguments?: unknown } }[] };
  finish_reason?: unknown;
}

export interface ResponsesStream {
  /** The events for one parsed chat chunk. */
  chunk(chunk: unknown): string[];
  /** Closes open items and completes the response once the supplier's stream ended (an `error` event if it ended before its finish reason). */
  end(): string[];
  /** Ends the stream with an `error` event after a mid-stream supplier failure; nothing after one already sent. */
  failure(message: string): string[];
  readonly usage: MeteredUsage | null;
  /** Text and argument deltas sent: about one token each, the estimate when no usage came. */
  readonly deltas: number;
}

export function createResponsesStream(request: ResponsesRequest, ids: ResponseIds): ResponsesStream {
  let sequence = 0;
  let started = false;
  let finishReason: string | null = null;
  let usage: MeteredUsage | null = null;
  let deltas = 0;
  /** An `error` event was sent: the stream is over, whatever else the supplier sends. */
  let failed = false;
  const done: OutputItem[] = [];
  let open: OpenMessage | OpenCall | null = null;
  const callsByChatIndex = new Map<number, OpenCall>();

  const event = (type: string, fields: Record<string, unknown>): string =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}`;
  const snapshot = (status: 'in_progress' | 'completed' | 'incomplete' | 'failed', extra: { incomplete_details?: { reason: string } | null } = {}) =>
    responseObject(request, ids, { status, output: done, usage: status === 'in_progress' ? null : usage, ...extra });

  function start(out: string[]): void {
    if (started) return;
    started = true;
    out.push(event('response.created', { response: snapshot('in_progress') }), event('response.in_progress', { response: snapshot('in_progress') }));
  }

  function close(out: string[]): void {
    if (!open) return;
    const item = open;
    open = null;
    if (item.kind === 'message') {
      const base = { item_id: item.id, output_index: item.outputIndex, content_index: 0 };
      const final = messageItem(item.id, item.text, 'completed');
      out.push(
        event('response.output_text.done', { ...base, text: item.text, logprobs: [] }),
        event('response.content_part.done', { ...base, part: outputTextPart(item.text) }),
        event('response.output_item.done', { output_index: item.outputIndex, item: final }),
      );
      done.push(final);
    } else {
      // A call without parameters: Anthropic may stream no input_json_delta at all, and some
      // OpenAI-compatible servers send no arguments. OpenAI always gives "{}", which clients parse.
      if (item.arguments === '') {
        item.arguments = '{}';
        out.push(event('response.function_call_arguments.delta', { item_id: item.id, output_index: item.outputIndex, delta: item.arguments }));
      }
      const final = functionCallItem(item.id, item, 'completed');
      out.push(
        event('response.function_call_arguments.done', { item_id: item.id, output_index: item.outputIndex, name: item.name, arguments: item.arguments }),
        event('response.output_item.done', { output_index: item.outputIndex, item: final }),
      );
      done.push(final);
    }
  }

  function text(delta: string, out: string[]): void {
    if (open?.kind !== 'message') {
      close(out);
      const outputIndex = done.length;
      const id = messageItemId(ids, outputIndex);
      open = { kind: 'message', outputIndex, id, text: '' };
      out.push(
        event('response.output_item.added', { output_index: outputIndex, item: messageItem(id, '', 'in_progress') }),
        event('response.content_part.added', { item_id: id, output_index: outputIndex, content_index: 0, part: outputTextPart('') }),
      );
    }
    open.text += delta;
    deltas++;
    out.push(event('response.output_text.delta', { item_id: open.id, output_index: open.outputIndex, content_index: 0, delta, logprobs: [] }));
  }

  function toolCall(call: NonNullable<NonNullable<ChunkChoice['delta']>['tool_calls']>[number], out: string[]): void {
    const chatIndex = typeof call.index === 'number' ? call.index : 0;
    let current = callsByChatIndex.get(chatIndex);
    if (!current) {
      close(out);
      const outputIndex = done.length;
      const id = functionItemId(ids, outputIndex);
      const callId = typeof call.id === 'string' ? call.id : `call_${ids.id.slice(5)}_${outputIndex}`;
      current = { kind: 'call', outputIndex, id, callId, name: typeof call.function?.name === 'string' ? call.function.name : '', arguments: '' };
      callsByChatIndex.set(chatIndex, current);
      open = current;
      out.push(event('response.output_item.added', { output_index: outputIndex, item: functionCallItem(id, current, 'in_progress') }));
    }
    const piece = typeof call.function?.arguments === 'string' ? call.function.arguments : '';
    // A delta for a call already closed (interleaved parallel calls) cannot be sent any more.
    if (piece === '' || open !== current) return;
    current.arguments += piece;
    deltas++;
    out.push(event('response.function_call_arguments.delta', { item_id: current.id, output_index: current.outputIndex, delta: piece }));
  }

  function fail(message: string): string[] {
    if (failed) return [];
    failed = true;
    // No `response.completed` after a failure: the client must not take a cut answer as whole.
    return [event('error', { code: 'upstream_failed', message, param: null })];
  }

  return {
    chunk(chunk) {
      if (failed) return [];
      const parsed = (typeof chunk === 'object' && chunk !== null ? chunk : {}) as { choices?: ChunkChoice[]; usage?: unknown; error?: unknown };
      if (parsed.error !== undefined && parsed.error !== null) return fail('The supplier failed mid-stream.');
      const out: string[] = [];
      start(out);
      const found = chatUsageOf(parsed.usage);
      if (found) usage = found;
      for (const choice of Array.isArray(parsed.choices) ? parsed.choices.slice(0, 1) : []) {
        const delta = choice.delta ?? {};
        if (typeof delta.content === 'string' && delta.content !== '') text(delta.content, out);
        for (const call of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) toolCall(call, out);
        if (typeof choice.finish_reason === 'string') finishReason = choice.finish_reason;
      }
      return out;
    },
    end() {
      if (failed) return [];
      // As chat-stream-to-messages: a stream that reached its finish reason is whole, even
      // without [DONE]; one that did not was cut.
      if (finishReason === null) return fail('The supplier ended the stream early.');
      const out: string[] = [];
      start(out);
      close(out);
      const { status, incomplete_details } = statusOf(finishReason);
      out.push(event(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: snapshot(status, { incomplete_details }) }));
      return out;
    },
    failure: fail,
    get usage() {
      return usage;
    },
    get deltas() {
      return deltas;
    },
  };
}
