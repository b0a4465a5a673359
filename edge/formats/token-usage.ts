// Token counts across the two formats. Anthropic reports cache reads and cache writes apart from
// `input_tokens`; OpenAI's `prompt_tokens` includes the cached part and names it in
// `prompt_tokens_details.cached_tokens`. Billing's input is the whole prompt either way, with the
// cache reads kept as cachedInput so they can be priced as such.

import type { ChatUsage } from '../../shared/openai-chat.ts';
import type { MessagesUsage } from '../../shared/anthropic-messages.ts';
import type { MeteredUsage } from '../metering.ts';

export interface AnthropicCounts {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

export function countsFromMessagesUsage(usage: MessagesUsage): AnthropicCounts {
  return {
    input_tokens: usage.input_tokens ?? 0,
    output_tokens: usage.output_tokens,
    cache_creation_input_tokens: usage.cache_creation_input_tokens ?? 0,
    cache_read_input_tokens: usage.cache_read_input_tokens ?? 0,
  };
}

export function meteredFromAnthropic(c: AnthropicCounts): MeteredUsage {
  return {
    input: c.input_tokens + c.cache_read_input_tokens + c.cache_creation_input_tokens,
    output: c.output_tokens,
    cachedInput: c.cache_read_input_tokens,
    cacheWrite: c.cache_creation_input_tokens,
    reasoning: 0,
  };
}

export function meteredFromChat(u: ChatUsage): MeteredUsage {
  return {
    input: u.prompt_tokens,
    output: u.completion_tokens,
    cachedInput: u.prompt_tokens_details?.cached_tokens ?? 0,
    reasoning: u.completion_tokens_details?.reasoning_tokens ?? 0,
  };
}

/** Anthropic counts as an OpenAI usage object. */
export function chatUsageFromAnthropic(c: AnthropicCounts) {
  const prompt = c.input_tokens + c.cache_read_input_tokens + c.cache_creation_input_tokens;
  return {
    prompt_tokens: prompt,
    completion_tokens: c.output_tokens,
    total_tokens: prompt + c.output_tokens,
    prompt_tokens_details: { cached_tokens: c.cache_read_input_tokens },
  };
}

/** OpenAI counts as an Anthropic usage object; OpenAI reports no cache writes. */
export function anthropicUsageFromChat(u: ChatUsage): AnthropicCounts {
  const cached = Math.min(u.prompt_tokens, u.prompt_tokens_details?.cached_tokens ?? 0);
  return {
    input_tokens: u.prompt_tokens - cached,
    output_tokens: u.completion_tokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
  };
}
