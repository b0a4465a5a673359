// Input a supplier bills beyond what a request's bytes can hold, added to its worst case
// (admission.ts: every request byte counts as one input token, which covers text, and base64
// images, whose bytes far outnumber their tokens). Three things break that bound:
// - Tools: a supplier wraps tool definitions in a system prompt of its own (Anthropic adds ~350
//   tokens for tool use, ~700 with its text-editor tool), and the forced tool behind json_schema
//   on a Claude route is one too.
// - Documents: a PDF is billed per page (its text and an image of the page, ~1,500-3,000 tokens
//   a page) while a minimal page takes ~70 bytes, so a document's bytes bound nothing. Each is
//   reserved as 100 pages (Anthropic's limit a request), which the context window caps.
// - Images given by URL: a few bytes of URL for up to ~1,600 tokens (a full-size image).
// These are reservations only: the bill is what the supplier reports.

export const TOOLS_TOKENS = 1_000;
export const DOCUMENT_TOKENS = 300_000;
export const IMAGE_URL_TOKENS = 2_000;

type Part = Record<string, unknown>;

const isPart = (value: unknown): value is Part => typeof value === 'object' && value !== null && !Array.isArray(value);

function partTokens(part: Part, depth: number): number {
  switch (part.type) {
    // Chat `file` parts, Responses `input_file`, Messages `document` blocks.
    case 'file':
    case 'input_file':
    case 'document':
      return DOCUMENT_TOKENS;
    case 'image_url': {
      const url = isPart(part.image_url) ? part.image_url.url : part.image_url;
      return typeof url === 'string' && !url.startsWith('data:') ? IMAGE_URL_TOKENS : 0;
    }
    case 'input_image':
      return typeof part.image_url === 'string' && !part.image_url.startsWith('data:') ? IMAGE_URL_TOKENS : 0;
    case 'image':
      return isPart(part.source) && part.source.type === 'url' ? IMAGE_URL_TOKENS : 0;
    // A tool's result may carry images and documents of its own (Messages).
    case 'tool_result':
      return depth === 0 ? contentTokens(part.content, 1) : 0;
    default:
      return 0;
  }
}

function contentTokens(content: unknown, depth: number): number {
  if (!Array.isArray(content)) return 0;
  let tokens = 0;
  for (const part of content) if (isPart(part)) tokens += partTokens(part, depth);
  return tokens;
}

/** The hidden input of a chat or Messages body's messages (or a Responses body's input items), plus tools. */
export function hiddenInputTokens(messages: unknown, options: { tools: boolean }): number {
  let tokens = options.tools ? TOOLS_TOKENS : 0;
  if (!Array.isArray(messages)) return tokens;
  for (const message of messages) {
    if (!isPart(message)) continue;
    tokens += contentTokens(message.content, 0);
    // A Responses input item may be a content part itself.
    tokens += partTokens(message, 1);
  }
  return tokens;
}
