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
  const upstream: Record<string, unknown> = { ...body, model: route.upstream_model };
  // Anthropic's metadata holds user_id and refuses any other key (a 400), while clients put the
  // gateway's own keys there (metadata.session_id, metadata.sticky_key: stickiness).
  const metadata = body.metadata as { user_id?: unknown } | null | undefined;
  if (metadata !== undefined) {
    if (typeof metadata === 'object' && metadata !== null && metadata.user_id != null) upstream.metadata = { user_id: metadata.user_id };
    else delete upstream.metadata;
  }
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
