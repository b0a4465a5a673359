// The parts of an OpenAI chat-completions body the gateway reads. Everything else passes through
// to the supplier untouched (loose objects), so new OpenAI fields need no gateway release.

import { z } from 'zod';
import { ModelName } from './model-name.ts';

/** A content part, tool, tool choice or response format: an object that names its `type`, the rest passed through. */
const Typed = z.looseObject({ type: z.string() });

const Message = z.looseObject({
  role: z.string(),
  // Text, content parts, or null (an assistant message that only calls tools).
  content: z.union([z.string(), z.array(Typed), z.null()]).optional(),
});

export const ChatCompletionRequest = z.looseObject({
  model: ModelName,
  messages: z.array(Message).min(1),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
  // The standard settings' types, so a wrongly typed one is a 422 naming it before any supplier
  // call. Types only: the ranges differ by supplier (Anthropic's temperature ends at 1), and the
  // supplier answers for a value out of its range.
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  n: z.number().int().positive().nullish(),
  stop: z.union([z.string(), z.array(z.string())]).nullish(),
  presence_penalty: z.number().nullish(),
  frequency_penalty: z.number().nullish(),
  seed: z.number().int().nullish(),
  user: z.string().nullish(),
  tools: z.array(Typed).nullish(),
  tool_choice: z.union([z.string(), Typed]).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  response_format: Typed.nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().nonnegative().nullish(),
});
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequest>;

/** The usage object of a chat completion or of the final stream chunk. */
export const ChatUsage = z.looseObject({
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  prompt_tokens_details: z.looseObject({ cached_tokens: z.number().int().nonnegative().optional() }).nullish(),
  completion_tokens_details: z.looseObject({ reasoning_tokens: z.number().int().nonnegative().optional() }).nullish(),
});
export type ChatUsage = z.infer<typeof ChatUsage>;
