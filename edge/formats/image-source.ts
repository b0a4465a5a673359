// Images between the formats: OpenAI's `image_url.url` (an http(s) URL or a base64 data URL) and
// Anthropic's `image.source` ({type:'base64', media_type, data} or {type:'url', url}).

const DATA_URL = /^data:([^;,]+);base64,(.*)$/s;

export type AnthropicImageSource = { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string };

export function anthropicSourceFromUrl(url: string): AnthropicImageSource {
  const match = DATA_URL.exec(url);
  return match ? { type: 'base64', media_type: anthropicMediaType(match[1]!), data: match[2]! } : { type: 'url', url };
}

/**
 * Anthropic takes image/jpeg, image/png, image/gif and image/webp, spelt so: `image/jpg` (common in
 * data URLs, and accepted by OpenAI) is refused, so it becomes image/jpeg; case is folded likewise.
 */
function anthropicMediaType(mediaType: string): string {
  const lower = mediaType.toLowerCase();
  return lower === 'image/jpg' ? 'image/jpeg' : lower;
}

/** null for sources OpenAI cannot take (Anthropic's file ids). */
export function urlFromAnthropicSource(source: unknown): string | null {
  if (typeof source !== 'object' || source === null) return null;
  const s = source as Record<string, unknown>;
  if (s.type === 'base64' && typeof s.media_type === 'string' && typeof s.data === 'string') return `data:${s.media_type};base64,${s.data}`;
  if (s.type === 'url' && typeof s.url === 'string') return s.url;
  return null;
}
