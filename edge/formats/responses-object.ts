// The `response` object of the Responses API, built from what the translators learnt: the echo of
// the request, the output items, the status and the usage. Shared by the JSON answer and the
// stream's created/completed events, so both describe a response the same way.

import type { ResponsesRequest } from '../../shared/openai-responses.ts';
import type { MeteredUsage } from '../metering.ts';

export interface ResponseIds {
  /** `resp_…`; item ids are derived from it so a translation is a pure function of its input. */
  id: string;
  createdAt: number;
}

export type OutputItem = Record<string, unknown> & { type: 'message' | 'function_call'; id: string };

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';

export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export const newResponseIds = (nowMs: number): ResponseIds => ({
  id: `resp_${crypto.randomUUID().replaceAll('-', '')}`,
  createdAt: Math.floor(nowMs / 1000),
});

export const messageItemId = (ids: ResponseIds, index: number): string => `msg_${ids.id.slice(5)}_${index}`;
export const functionItemId = (ids: ResponseIds, index: number): string => `fc_${ids.id.slice(5)}_${index}`;

export function responsesUsage(usage: MeteredUsage): ResponsesUsage {
  return {
    input_tokens: usage.input,
    input_tokens_details: { cached_tokens: usage.cachedInput },
    output_tokens: usage.output,
    output_tokens_details: { reasoning_tokens: usage.reasoning },
    total_tokens: usage.input + usage.output,
  };
}

/** Chat's finish_reason as a Responses status and its incomplete_details. */
export function statusOf(finishReason: string | null): { status: ResponseStatus; incomplete_details: { reason: string } | null } {
  if (finishReason === 'length') return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (finishReason === 'content_filter') return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

export function responseObject(
  request: ResponsesRequest,
  ids: ResponseIds,
  state: {
    status: ResponseStatus;
    incomplete_details?: { reason: string } | null;
    output: readonly OutputItem[];
    usage: MeteredUsage | null;
    error?: { code: string; message: string } | null;
  },
): Record<string, unknown> {
  return {
    id: ids.id,
    object: 'response',
    created_at: ids.createdAt,
    status: state.status,
    background: false,
    error: state.error ?? null,
    incomplete_details: state.incomplete_details ?? null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    model: request.model,
    output: state.output,
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: request.reasoning?.effort ?? null, summary: null },
    // Always false: the gateway keeps no responses, whatever the client asked (README, Responses API).
    store: false,
    temperature: request.temperature ?? 1,
    text: { format: request.text?.format ?? { type: 'text' } },
    tool_choice: request.tool_choice ?? 'auto',
    tools: request.tools ?? [],
    top_p: request.top_p ?? 1,
    truncation: 'disabled',
    usage: state.usage ? responsesUsage(state.usage) : null,
    user: request.user ?? null,
    metadata: request.metadata ?? {},
  };
}

export const messageItem = (id: string, text: string, status: 'in_progress' | 'completed'): OutputItem => ({
  id,
  type: 'message',
  status,
  role: 'assistant',
  content: status === 'in_progress' && text === '' ? [] : [outputTextPart(text)],
});

export const outputTextPart = (text: string) => ({ type: 'output_text', text, annotations: [], logprobs: [] });

export const functionCallItem = (
  id: string,
  call: { callId: string; name: string; arguments: string },
  status: 'in_progress' | 'completed',
): OutputItem => ({ id, type: 'function_call', status, call_id: call.callId, name: call.name, arguments: call.arguments });
