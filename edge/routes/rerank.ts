// POST /v1/rerank: `model, query, documents[], top_n` → `results[{index, relevance_score}]`,
// passed through to the supplier's Cohere/Jina-style `/rerank` endpoint on its OpenAI-compatible
// base URL (edge/providers/openai-endpoints.ts); billed by the tokens the supplier reports.

import type { Handler } from 'hono';
import { RerankRequest } from '../../shared/openai-embeddings.ts';
import type { EdgeDeps } from '../app.ts';
import { readJsonBody } from '../bounded-body.ts';
import { runInference } from '../inference.ts';
import { meterJsonPassThrough } from '../meter-json.ts';
import { openAiJsonRequest } from '../providers/openai-endpoints.ts';
import type { EdgeEnv } from '../request-context.ts';
import { parseBody } from '../validation.ts';
import { readInputUsage } from './embeddings.ts';

const encoder = new TextEncoder();
const utf8Length = (text: string) => encoder.encode(text).byteLength;

export function rerankRoute(deps: EdgeDeps): Handler<EdgeEnv> {
  return async (c) => {
    const { json, bytes } = await readJsonBody(c.req.raw, deps.maxRequestBytes);
    const body = parseBody(RerankRequest, json);
    return runInference(c, deps, {
      model: body.model,
      modelType: 'rerank',
      requestBytes: bytes,
      // Cross-encoders read the query beside every document (vLLM and Jina bill it once a pair):
      // the request's bytes plus the query's again for each document, each pair capped by the
      // context window.
      bound: { output: 0, input: bytes + utf8Length(body.query) * body.documents.length, items: body.documents.length },
      formats: ['openai'],
      upstream: (route, credential) => openAiJsonRequest(route, 'rerank', body, credential),
      respond: (response, upstreamBody, _route, onEnd) => ({
        body: meterJsonPassThrough(response, readInputUsage, onEnd),
        contentType: response.headers.get('content-type') ?? 'application/json',
      }),
    });
  };
}
