// The parts of an OpenAI Responses API body the gateway reads (https://platform.openai.com/docs/api-reference/responses).
// Loose objects: a field the gateway does not translate is ignored, not refused, unless the
// translator says why (edge/formats/responses-request.ts).

import { z } from 'zod';
import { ModelName } from './model-name.ts';

const InputPart = z.looseObject({ type: z.string() });

export const ResponsesMessageItem = z.looseObject({
  type: z.literal('message').optional(),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content: z.union([z.string(), z.array(InputPart)]),
});

export const ResponsesInputItem = z.looseObject({ type: z.string().optional() });

export const ResponsesFunctionTool = z.looseObject({
  type: z.string(),
  name: z.string().optional(),
  description: z.string().nullish(),
  parameters: z.unknown().optional(),
  strict: z.boolean().nullish(),
});

export const ResponsesRequest = z.looseObject({
  model: ModelName,
  input: z.union([z.string(), z.array(ResponsesInputItem).min(1)]),
  instructions: z.string().nullish(),
  tools: z.array(ResponsesFunctionTool).nullish(),
  tool_choice: z.union([z.enum(['auto', 'none', 'required']), z.looseObject({ type: z.string(), name: z.string().optional() })]).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  max_output_tokens: z.number().int().positive().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stream: z.boolean().nullish(),
  store: z.boolean().nullish(),
  previous_response_id: z.string().nullish(),
  user: z.string().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  reasoning: z.looseObject({ effort: z.string().nullish() }).nullish(),
  text: z.looseObject({ format: z.looseObject({ type: z.string() }).optional() }).nullish(),
});
export type ResponsesRequest = z.infer<typeof ResponsesRequest>;
