// Supplier features billed apart from tokens, for which the catalog has no price: refused before
// any supplier call with a 400 naming the field. Passed through, a key would spend the node's
// supplier accounts on what its org is never charged for.
// - OpenAI chat: a `service_tier` other than the default (priority processing costs more a token;
//   the catalog prices the default tier), `web_search_options` (a fee per search), and audio in
//   or out (`input_audio` parts, `modalities` with audio, `audio`): audio tokens cost several
//   times text tokens, and the catalog's token prices are text prices.
// - Anthropic Messages: the web search and code execution server tools (a fee per search, per
//   container hour). Client tools (functions, computer use, bash, text editor) bill as tokens.
// count_tokens runs nothing, so it takes any tool.

import type { MessagesRequest } from '../shared/anthropic-messages.ts';
import { ApiError } from '../shared/errors.ts';
import type { ChatCompletionRequest } from '../shared/openai-chat.ts';

const DEFAULT_TIERS = new Set(['auto', 'default']);
const BILLED_SERVER_TOOLS = /^(web_search|code_execution)_/;

const refuse = (param: string, what: string): never => {
  throw new ApiError('invalid_request', `${what} is billed by the supplier apart from tokens and is not offered through this gateway.`, { param });
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

export function refuseUnpricedMessages(body: MessagesRequest): void {
  body.tools?.forEach((tool, i) => {
    if (typeof tool.type === 'string' && BILLED_SERVER_TOOLS.test(tool.type)) refuse(`tools.${i}.type`, `The server tool '${tool.type}'`);
  });
}
