// A local estimate for /v1/messages/count_tokens when the model's supplier speaks OpenAI, which has
// no counting endpoint: ~4 characters a token over the text, tool definitions and tool traffic,
// plus a flat allowance per image. It is an estimate, said so in the README; Anthropic-format
// routes forward to the supplier's exact count instead.

import type { CountTokensRequest } from '../../shared/anthropic-messages.ts';

/** Anthropic bills about (width × height) / 750 per image, ~1,600 at its 1.15-megapixel cap. */
const TOKENS_PER_IMAGE = 1_600;

export function estimateInputTokens(body: CountTokensRequest): number {
  let chars = 0;
  let images = 0;
  const visit = (value: unknown): void => {
    if (typeof value === 'string') chars += value.length;
    else if (Array.isArray(value)) value.forEach(visit);
    else if (typeof value === 'object' && value !== null) {
      const block = value as Record<string, unknown>;
      if (block.type === 'image') images++;
      else if (block.type === 'text') visit(block.text);
      else if (block.type === 'tool_use') chars += JSON.stringify(block.input ?? {}).length + String(block.name ?? '').length;
      else if (block.type === 'tool_result') visit(block.content);
    }
  };
  visit(body.system ?? '');
  for (const message of body.messages) visit(message.content);
  for (const tool of body.tools ?? []) chars += JSON.stringify(tool).length;
  return Math.max(1, Math.ceil(chars / 4) + images * TOKENS_PER_IMAGE);
}
