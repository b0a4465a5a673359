// A chat.completion answer as a Responses `response` object: the assistant's text becomes one
// message item with an output_text part, each tool call a function_call item, usage is renamed.

import { chatUsageOf } from '../metering.ts';
import type { ResponsesRequest } from '../../shared/openai-responses.ts';
import type { MeteredUsage } from '../metering.ts';
import {
  functionCallItem,
  functionItemId,
  messageItem,
  messageItemId,
  responseObject,
  statusOf,
  type OutputItem,
  type ResponseIds,
} from './responses-object.ts';

interface ChatChoice {
  message?: {
    content?: unknown;
    refusal?: unknown;
    tool_calls?: { id?: unknown; function?: { name?: unknown; arguments?: unknown } }[];
  };
  finish_reason?: unknown;
}

export function chatToResponse(
  request: ResponsesRequest,
  ids: ResponseIds,
  completion: unknown,
): { response: Record<string, unknown>; usage: MeteredUsage | null; outputChars: number } {
  const answer = (typeof completion === 'object' && completion !== null ? completion : {}) as { choices?: ChatChoice[]; usage?: unknown };
  const choice = Array.isArray(answer.choices) ? answer.choices[0] : undefined;
  const message = choice?.message ?? {};
  const output: OutputItem[] = [];
  let outputChars = 0;
  const text = typeof message.content === 'string' ? message.content : '';
  if (text !== '') {
    output.push(messageItem(messageItemId(ids, output.length), text, 'completed'));
    outputChars += text.length;
  } else if (typeof message.refusal === 'string' && message.refusal !== '') {
    output.push({ id: messageItemId(ids, 0), type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'refusal', refusal: message.refusal }] });
  }
  for (const call of Array.isArray(message.tool_calls) ? message.tool_calls : []) {
    const args = typeof call.function?.arguments === 'string' ? call.function.arguments : '';
    outputChars += args.length;
    output.push(
      functionCallItem(
        functionItemId(ids, output.length),
        { callId: typeof call.id === 'string' ? call.id : `call_${output.length}`, name: String(call.function?.name ?? ''), arguments: args },
        'completed',
      ),
    );
  }
  const usage = chatUsageOf(answer.usage);
  const finish = typeof choice?.finish_reason === 'string' ? choice.finish_reason : null;
  return { response: responseObject(request, ids, { ...statusOf(finish), output, usage }), usage, outputChars };
}
