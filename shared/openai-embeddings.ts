// The bodies of the embeddings and rerank surfaces, as far as the gateway reads them; other
// fields pass through to the supplier untouched (loose objects).

import { z } from 'zod';
import { ModelName } from './model-name.ts';

export const EmbeddingsRequest = z.looseObject({
  model: ModelName,
  input: z.union([z.string(), z.array(z.string()).min(1), z.array(z.number().int()).min(1), z.array(z.array(z.number().int()).min(1)).min(1)]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().positive().optional(),
});
export type EmbeddingsRequest = z.infer<typeof EmbeddingsRequest>;

/** The common Cohere/Jina/vLLM rerank body: PRODUCT.md §1. */
export const RerankRequest = z.looseObject({
  model: ModelName,
  query: z.string().min(1),
  documents: z.array(z.union([z.string(), z.looseObject({ text: z.string() })])).min(1).max(10_000),
  top_n: z.number().int().positive().optional(),
  return_documents: z.boolean().optional(),
});
export type RerankRequest = z.infer<typeof RerankRequest>;

/** Usage as embeddings and rerank suppliers report it: prompt_tokens (OpenAI), or total_tokens only (Jina, vLLM). */
export const InputUsage = z.looseObject({
  prompt_tokens: z.number().int().nonnegative().optional(),
  total_tokens: z.number().int().nonnegative().optional(),
});
