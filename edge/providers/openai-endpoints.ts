// The OpenAI-compatible supplier format beyond chat: embeddings, rerank and audio, addressed on
// the route's base URL with the supplier's own model name. Rerank uses the common Cohere/Jina
// `/rerank` endpoint (vLLM, Jina, SiliconFlow, DeepInfra's OpenAI-compatible servers speak it).

import type { RouteEntry } from '../../shared/manifest.ts';
import type { UpstreamRequest } from '../inference.ts';

const endpoint = (route: RouteEntry, path: string): string => `${route.base_url.replace(/\/+$/, '')}/${path}`;

function authorized(headers: Record<string, string>, credential: string | undefined): Record<string, string> {
  return credential ? { ...headers, authorization: `Bearer ${credential}` } : headers;
}

/** A JSON body to `path`, its `model` replaced by the route's upstream model. */
export function openAiJsonRequest(route: RouteEntry, path: 'embeddings' | 'rerank' | 'audio/speech', body: Record<string, unknown>, credential: string | undefined): UpstreamRequest {
  return {
    url: endpoint(route, path),
    init: {
      method: 'POST',
      headers: authorized({ 'content-type': 'application/json' }, credential),
      body: JSON.stringify({ ...body, model: route.upstream_model }),
    },
  };
}

/**
 * A multipart upload to `path`. The client's fields and file bytes go as they came; only `model`
 * is the route's, so the form is re-encoded (FormData can be sent again on failover).
 */
export function openAiMultipartRequest(route: RouteEntry, path: 'audio/transcriptions', form: FormData, credential: string | undefined): UpstreamRequest {
  const upstream = new FormData();
  for (const [name, value] of form.entries()) {
    if (name === 'model') continue;
    upstream.append(name, value);
  }
  upstream.append('model', route.upstream_model);
  return { url: endpoint(route, path), init: { method: 'POST', headers: authorized({}, credential), body: upstream } };
}
