// An OpenAI chat.completion (non-streaming answer) as an Anthropic message.

import { ChatUsage } from '../../shared/openai-chat.ts';
import type { TranslatedAnswer } from '../meter-json.ts';
import { stopReasonFromFinish } from './stop-reason.ts';
import { anthropicUsageFromChat, meteredFromChat } from './token-usage.ts';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function messageFromChatCompletion(completion: Record<string, unknown>, options: { model: string }): TranslatedAnswer {
  const choice = Array.isArray(completion.choices) && isObject(completion.choices[0]) ? completion.choices[0] : {};
  const message = isObject(choice.message) ? choice.message : {};
  const content: Record<string, unknown>[] = [];
  let chars = 0;
  if (typeof message.content === 'string' && message.content !== '') {
    content.push({ type: 'text', text: message.content });
    chars += message.content.length;
  }
  for (const call of Array.isArray(message.tool_calls) ? message.tool_calls : []) {
    const fn = isObject(call) && isObject(call.function) ? call.function : {};
    const args = typeof fn.arguments === 'string' ? fn.arguments : '{}';
    chars += args.length;
    content.push({ type: 'tool_use', id: String(isObject(call) ? (call.id ?? '') : ''), name: String(fn.name ?? ''), input: parseInput(args) });
  }
  const parsed = ChatUsage.safeParse(completion.usage);
  const counts = parsed.success ? anthropicUsageFromChat(parsed.data) : { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  return {
    body: {
      id: `msg_${String(completion.id ?? '')}`,
      type: 'message',
      role: 'assistant',
      model: options.model,
      content,
      stop_reason: stopReasonFromFinish(choice.finish_reason as string | null),
      stop_sequence: null,
      usage: counts,
    },
    usage: parsed.success ? meteredFromChat(parsed.data) : null,
    outputEstimate: Math.ceil(chars / 4),
  };
}

/** Anthropic clients expect an object; a model's malformed arguments are kept under `_raw`. */
function parseInput(args: string): unknown {
  try {
    const value: unknown = JSON.parse(args);
    return isObject(value) ? value : { _raw: args };
  } catch {
    return { _raw: args };
  }
}
