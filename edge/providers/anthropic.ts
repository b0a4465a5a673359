// The Anthropic supplier format: how a Messages request (or a token count) is addressed and
// authenticated. https://docs.anthropic.com/en/api/messages

import type { RouteEntry } from '../../shared/manifest.ts';

/** The API version whose wire format the translators in edge/formats/ speak. */
export const ANTHROPIC_VERSION = '2023-06-01';

const BETA = /^[a-z0-9][a-z0-9-]{0,63}$/;
const MAX_BETAS = 16;

/**
 * The `anthropic-beta` header an Anthropic client sent, for an Anthropic-format supplier: the
 * features it names (Claude Code's 1M context, interleaved thinking, fine-grained tool streaming,
 * computer use) exist only with it, and without it their requests are refused or cut. Only
 * well-formed names pass (`context-1m-2025-08-07`: lower-case letters, digits and dashes), at most
 * 16; anything else is left out rather than forwarded. Null when none is left. A beta that changes
 * prices (long context) needs its context tier in the catalog, as every price does.
 */
export function anthropicBetas(header: string | null | undefined): string | null {
  if (!header) return null;
  const names = header.split(',').map((n) => n.trim()).filter((n) => BETA.test(n));
  return names.length === 0 ? null : [...new Set(names)].slice(0, MAX_BETAS).join(',');
}

export function anthropicRequest(
  route: RouteEntry,
  body: Readonly<Record<string, unknown>>,
  credential: string | undefined,
  options: { endpoint: 'messages' | 'count_tokens'; beta?: string | null },
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
  if (options.beta) headers['anthropic-beta'] = options.beta;
  if (credential) headers['x-api-key'] = credential;
  const path = options.endpoint === 'messages' ? '/messages' : '/messages/count_tokens';
  return {
    url: `${route.base_url.replace(/\/+$/, '')}${path}`,
    init: { method: 'POST', headers, body: JSON.stringify(upstream) },
  };
}
