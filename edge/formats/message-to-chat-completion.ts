// An Anthropic message (non-streaming answer) as an OpenAI chat.completion.

import { MessagesUsage } from '../../shared/anthropic-messages.ts';
import type { TranslatedAnswer } from '../meter-json.ts';
import { JSON_ANSWER_TOOL } from './chat-to-messages-request.ts';
import { finishReasonFromStop } from './stop-reason.ts';
import { chatUsageFromAnthropic, countsFromMessagesUsage, meteredFromAnthropic } from './token-usage.ts';


type Block = { type?: unknown; text?: unknown; id?: unknown; name?: unknown; input?: unknown };

/**
 * `jsonAnswer`: the request asked for a json_schema answer, given through JSON_ANSWER_TOOL
 * (chat-to-messages-request.ts): that tool's input is the answer's content, and no tool was called.
 */
export function chatCompletionFromMessage(message: Record<string, unknown>, options: { model: string; created: number; jsonAnswer?: boolean }): TranslatedAnswer {
  const blocks = (Array.isArray(message.content) ? message.content : []) as Block[];
  const answer = options.jsonAnswer ? blocks.find((b) => b.type === 'tool_use' && b.name === JSON_ANSWER_TOOL) : undefined;
  const text = answer
    ? JSON.stringify(answer.input ?? {})
    : blocks.filter((b) => b.type === 'text' && typeof b.text === 'string').map((b) => b.text as string).join('');
  const toolCalls = blocks
    .filter((b) => b.type === 'tool_use' && b !== answer)
    .map((b) => ({ id: String(b.id ?? ''), type: 'function', function: { name: String(b.name ?? ''), arguments: JSON.stringify(b.input ?? {}) } }));
  const parsed = MessagesUsage.safeParse(message.usage);
  const counts = parsed.success ? countsFromMessagesUsage(parsed.data) : null;
  const chatMessage: Record<string, unknown> = { role: 'assistant', content: text === '' && toolCalls.length > 0 ? null : text, refusal: null };
  if (toolCalls.length > 0) chatMessage.tool_calls = toolCalls;
  const body: Record<string, unknown> = {
    id: `chatcmpl-${String(message.id ?? '')}`,
    object: 'chat.completion',
    created: options.created,
    model: options.model,
    choices: [{ index: 0, message: chatMessage, logprobs: null, finish_reason: answer && message.stop_reason === 'tool_use' ? 'stop' : (finishReasonFromStop(message.stop_reason as string | null) ?? 'stop') }],
  };
  if (counts) body.usage = chatUsageFromAnthropic(counts);
  const chars = text.length + toolCalls.reduce((n, c) => n + c.function.arguments.length, 0);
  return { body, usage: counts && meteredFromAnthropic(counts), outputEstimate: Math.ceil(chars / 4) };
}
