// POST /v1/embeddings: the OpenAI embeddings surface, passed through to OpenAI-format suppliers
// with their own model name; billed by the supplier's `usage.prompt_tokens`.

import type { Handler } from 'hono';
import { EmbeddingsRequest, InputUsage } from '../../shared/openai-embeddings.ts';
import type { EdgeDeps } from '../app.ts';
import { readJsonBody } from '../bounded-body.ts';
import { runInference } from '../inference.ts';
import { meterJsonPassThrough, type JsonReading } from '../meter-json.ts';
import { openAiJsonRequest } from '../providers/openai-endpoints.ts';
import type { EdgeEnv } from '../request-context.ts';
import { parseBody } from '../validation.ts';

/** Input tokens as an embeddings or rerank supplier reports them; nothing is generated. */
export function readInputUsage(answer: unknown): JsonReading {
  const usage = InputUsage.safeParse((answer as { usage?: unknown } | undefined)?.usage);
  const input = usage.success ? (usage.data.prompt_tokens ?? usage.data.total_tokens) : undefined;
  return { usage: input === undefined ? null : { input, output: 0, cachedInput: 0, reasoning: 0 }, outputEstimate: 0 };
}

/** Inputs in an embeddings body: one string or one token array, or a list of either. */
function inputCount(input: EmbeddingsRequest['input']): number {
  return typeof input === 'string' || typeof input[0] === 'number' ? 1 : input.length;
}

export function embeddingsRoute(deps: EdgeDeps): Handler<EdgeEnv> {
  return async (c) => {
    const { json, bytes } = await readJsonBody(c.req.raw, deps.maxRequestBytes);
    const body = parseBody(EmbeddingsRequest, json);
    return runInference(c, deps, {
      model: body.model,
      modelType: 'embedding',
      requestBytes: bytes,
      // Each input is embedded (and capped at the context window) on its own; their tokens add up.
      bound: { output: 0, items: inputCount(body.input) },
      // Anthropic has no embeddings API: only OpenAI-format routes serve this surface.
      formats: ['openai'],
      upstream: (route, credential) => openAiJsonRequest(route, 'embeddings', body, credential),
      respond: (response, upstreamBody, _route, onEnd) => ({
        body: meterJsonPassThrough(response, readInputUsage, onEnd),
        contentType: response.headers.get('content-type') ?? 'application/json',
      }),
    });
  };
}
