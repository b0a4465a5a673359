// The parts of an Anthropic Messages body the gateway reads or translates. Everything else passes
// through untouched (loose objects), so new Anthropic fields need no gateway release.
// https://docs.anthropic.com/en/api/messages

import { z } from 'zod';
import { ModelName } from './model-name.ts';

const ContentBlock = z.looseObject({ type: z.string() });
const Content = z.union([z.string(), z.array(ContentBlock)]);

const Tool = z.looseObject({
  name: z.string().min(1),
  description: z.string().optional(),
  // Absent on Anthropic's server tools (web search and the like), which carry a `type` instead.
  input_schema: z.unknown().optional(),
});

const ToolChoice = z.looseObject({
  type: z.enum(['auto', 'any', 'tool', 'none']),
  name: z.string().optional(),
  disable_parallel_tool_use: z.boolean().optional(),
});

const Fields = {
  model: ModelName,
  messages: z.array(z.looseObject({ role: z.enum(['user', 'assistant']), content: Content })).min(1),
  system: Content.nullish(),
  tools: z.array(Tool).nullish(),
  tool_choice: ToolChoice.nullish(),
};

export const MessagesRequest = z.looseObject({
  ...Fields,
  // Required by Anthropic: it has no default output limit.
  max_tokens: z.number().int().positive(),
  stream: z.boolean().nullish(),
  stop_sequences: z.array(z.string()).nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  metadata: z.looseObject({ user_id: z.string().nullish() }).nullish(),
});
export type MessagesRequest = z.infer<typeof MessagesRequest>;

/** POST /v1/messages/count_tokens: the request without the generation settings. */
export const CountTokensRequest = z.looseObject(Fields);
export type CountTokensRequest = z.infer<typeof CountTokensRequest>;

export type ContentBlock = z.infer<typeof ContentBlock>;
export type MessageParam = MessagesRequest['messages'][number];

/** `usage` of a message, of message_start's message, or of message_delta (cumulative counts). */
export const MessagesUsage = z.looseObject({
  input_tokens: z.number().int().nonnegative().nullish(),
  output_tokens: z.number().int().nonnegative(),
  cache_creation_input_tokens: z.number().int().nonnegative().nullish(),
  cache_read_input_tokens: z.number().int().nonnegative().nullish(),
});
export type MessagesUsage = z.infer<typeof MessagesUsage>;

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'pause_turn' | 'refusal';
