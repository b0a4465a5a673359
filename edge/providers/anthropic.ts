// The Anthropic supplier format: how a Messages request (or a token count) is addressed and
// authenticated. https://docs.anthropic.com/en/api/messages

import type { RouteEntry } from '../../shared/manifest.ts';

/** The API version whose wire format the translators in edge/formats/ speak. */
export const ANTHROPIC_VERSION = '2023-06-01';

export function anthropicRequest(
  route: RouteEntry,
  body: Readonly<Record<string, unknown>>,
  credential: string | undefined,
  options: { endpoint: 'messages' | 'count_tokens' },
): { url: string; init: RequestInit } {
  const upstream = { ...body, model: route.upstream_model };
  const stream = options.endpoint === 'messages' && body.stream === true;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: stream ? 'text/event-stream' : 'application/json',
    'anthropic-version': ANTHROPIC_VERSION,
  };
  if (credential) headers['x-api-key'] = credential;
  const path = options.endpoint === 'messages' ? '/messages' : '/messages/count_tokens';
  return {
    url: `${route.base_url.replace(/\/+$/, '')}${path}`,
    init: { method: 'POST', headers, body: JSON.stringify(upstream) },
  };
}
