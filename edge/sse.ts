// Server-sent events as they cross the edge: cut a byte stream into complete events (a partial
// event waits for its end, nothing else is held back), and read an event's name and data.

export interface SseEvent {
  /** The `event:` field, or null (OpenAI streams name none). */
  event: string | null;
  /** The `data:` lines joined by newlines; '' when the event has none. */
  data: string;
  /** The event as received (CRLF normalised), without the blank line that ends it. */
  raw: string;
}

export function parseSseEvent(raw: string): SseEvent {
  let event: string | null = null;
  const data: string[] = [];
  for (const line of raw.split('\n')) {
    if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    else if (line.startsWith('event:')) event = line.slice(6).trim();
  }
  return { event, data: data.join('\n'), raw };
}

export interface SseSplitter {
  /** Complete events in this chunk (with any earlier partial one completed). */
  push(bytes: Uint8Array): SseEvent[];
  /** What is left at the end of the stream. */
  end(): SseEvent[];
}

export function createSseSplitter(): SseSplitter {
  const decoder = new TextDecoder();
  let buffer = '';
  const take = (final: boolean): SseEvent[] => {
    buffer = buffer.replaceAll('\r\n', '\n');
    const parts = buffer.split('\n\n');
    buffer = final ? '' : parts.pop()!;
    return parts.filter((p) => p.trim() !== '').map(parseSseEvent);
  };
  return {
    push(bytes) {
      buffer += decoder.decode(bytes, { stream: true });
      return take(false);
    },
    end() {
      buffer += decoder.decode();
      return take(true);
    },
  };
}

const encoder = new TextEncoder();

/**
 * A comment event, which SSE clients ignore (the official SDKs among them): sent while a supplier
 * is silent, so a client that went away is found out by the failed write (metering.ts).
 */
export const sseHeartbeat = (): Uint8Array => encoder.encode(': keep-alive\n\n');

/** Events back to bytes, each ended by a blank line. */
export function encodeSse(events: readonly (SseEvent | string)[]): Uint8Array | null {
  if (events.length === 0) return null;
  return encoder.encode(events.map((e) => `${typeof e === 'string' ? e : e.raw}\n\n`).join(''));
}
