// The OpenAI-compatible supplier format: how a chat request is addressed and authenticated.

import type { RouteEntry } from '../../shared/manifest.ts';
import type { ChatCompletionRequest } from '../../shared/openai-chat.ts';

/** OpenAI's reasoning families (o1, o3, o4-mini, gpt-5 …), with or without a provider prefix. */
const REASONING_MODEL = /^(?:[\w-]+\/)?(?:o\d|gpt-5)/;

export function openAiChatRequest(
  route: RouteEntry,
  body: ChatCompletionRequest,
  credential: string | undefined,
): { url: string; init: RequestInit } {
  const upstream: Record<string, unknown> = { ...body, model: route.upstream_model };
  // Ask for usage on streams: billing takes token counts from the supplier's own report.
  if (body.stream) upstream.stream_options = { ...body.stream_options, include_usage: true };
  // Nothing is stored with the supplier: it would sit in the gateway's account, out of the
  // client's reach, against the promise that prompts and completions are never stored. As on
  // /v1/responses, `store` is accepted and sent as false (only when sent: not every
  // OpenAI-compatible supplier knows the field).
  if (body.store !== undefined) upstream.store = false;
  // OpenAI takes `metadata` only with store (a 400 otherwise), and it only tags stored
  // completions: never sent. The gateway reads its own keys from it (stickiness).
  delete upstream.metadata;
  // OpenAI's reasoning models refuse max_tokens and want max_completion_tokens, which the
  // translations (Messages, Responses) and many clients do not send: open-model servers read the
  // former. Moved for those models only, by their upstream name.
  if (REASONING_MODEL.test(route.upstream_model) && upstream.max_tokens != null && upstream.max_completion_tokens == null) {
    upstream.max_completion_tokens = upstream.max_tokens;
    delete upstream.max_tokens;
  }
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: body.stream ? 'text/event-stream' : 'application/json' };
  if (credential) headers.authorization = `Bearer ${credential}`;
  return {
    url: `${route.base_url.replace(/\/+$/, '')}/chat/completions`,
    init: { method: 'POST', headers, body: JSON.stringify(upstream) },
  };
}
