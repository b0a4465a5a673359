// Supplier features billed at prices the catalog does not hold (fees apart from tokens, or tokens
// at another rate): refused before any supplier call with a 400 naming the field. Passed through,
// a key would spend the gateway's supplier accounts on what its org is never charged for.
// - OpenAI chat: a `service_tier` other than the default (priority processing costs more a token;
//   the catalog prices the default tier), `web_search_options` (a fee per search), and audio in
//   or out (`input_audio` parts, `modalities` with audio, `audio`): audio tokens cost several
//   times text tokens, and the catalog's token prices are text prices.
// - Anthropic Messages: the web search and code execution server tools (a fee per search, per
//   container hour). Client tools (functions, computer use, bash, text editor) bill as tokens.
//   Cache writes with a one-hour TTL (`cache_control.ttl: '1h'`): they cost twice the input rate
//   against 1.25 times for the default five minutes, and the catalog has one cache-write price.
// count_tokens runs nothing, so it takes any tool.

import type { MessagesRequest } from '../shared/anthropic-messages.ts';
import { ApiError } from '../shared/errors.ts';
import type { ChatCompletionRequest } from '../shared/openai-chat.ts';

const DEFAULT_TIERS = new Set(['auto', 'default']);
const BILLED_SERVER_TOOLS = /^(web_search|code_execution)_/;

const refuse = (param: string, what: string): never => {
  throw new ApiError('invalid_request', `${what} is billed by the supplier at a price this gateway does not charge, so it is not offered.`, { param });
};

export function refuseUnpricedChat(body: ChatCompletionRequest): void {
  const tier = body.service_tier;
  if (tier !== undefined && tier !== null && !(typeof tier === 'string' && DEFAULT_TIERS.has(tier))) refuse('service_tier', `The service tier '${String(tier)}'`);
  if (body.web_search_options !== undefined && body.web_search_options !== null) refuse('web_search_options', 'Web search');
  if (Array.isArray(body.modalities) && body.modalities.includes('audio')) refuse('modalities', 'Audio output');
  if (body.audio !== undefined && body.audio !== null) refuse('audio', 'Audio output');
  body.messages.forEach((message, i) => {
    if (!Array.isArray(message.content)) return;
    message.content.forEach((part, j) => {
      if (part.type === 'input_audio') refuse(`messages.${i}.content.${j}`, 'Audio input');
    });
  });
}

const longCache = (block: unknown): boolean => {
  const control = (block as { cache_control?: { ttl?: unknown } } | null)?.cache_control;
  return typeof control === 'object' && control !== null && control.ttl !== undefined && control.ttl !== '5m';
};

export function refuseUnpricedMessages(body: MessagesRequest): void {
  body.tools?.forEach((tool, i) => {
    if (typeof tool.type === 'string' && BILLED_SERVER_TOOLS.test(tool.type)) refuse(`tools.${i}.type`, `The server tool '${tool.type}'`);
    if (longCache(tool)) refuse(`tools.${i}.cache_control.ttl`, 'A cache TTL other than 5 minutes');
  });
  if (longCache(body)) refuse('cache_control.ttl', 'A cache TTL other than 5 minutes');
  if (Array.isArray(body.system)) {
    body.system.forEach((block, j) => {
      if (longCache(block)) refuse(`system.${j}.cache_control.ttl`, 'A cache TTL other than 5 minutes');
    });
  }
  body.messages.forEach((message, i) => {
    if (!Array.isArray(message.content)) return;
    message.content.forEach((block, j) => {
      if (longCache(block)) refuse(`messages.${i}.content.${j}.cache_control.ttl`, 'A cache TTL other than 5 minutes');
    });
  });
}
