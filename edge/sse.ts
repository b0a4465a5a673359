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

/**
 * The largest event the edge holds while it waits for its end: far above any real one (a chat
 * chunk is ~100 bytes, an audio delta tens of KB), so only a broken supplier reaches it — one
 * that never ends an event would otherwise grow the isolate's memory for every answer it serves.
 */
export const MAX_SSE_EVENT_CHARS = 16 * 1024 * 1024;

/**
 * Each chunk's text is searched once, with the one character before it (a blank line may straddle
 * two chunks): an event that arrives in many chunks is joined once, at its end, not re-scanned at
 * every chunk. Throws (a supplier failure for the metering) when an event outgrows `maxChars`.
 */
export function createSseSplitter(maxChars = MAX_SSE_EVENT_CHARS): SseSplitter {
  const decoder = new TextDecoder();
  /** The event in progress, as received since its start (CRLF already normalised). */
  let pending: string[] = [];
  let pendingChars = 0;
  /** The last character of `pending`: a '\n' there and one at the start of the next text end an event. */
  let last = '';
  /** A '\r' that ended a chunk: whether it starts a CRLF is known only with the next one. */
  let carriedCr = false;

  const take = (decoded: string, final: boolean): SseEvent[] => {
    let text = carriedCr ? `\r${decoded}` : decoded;
    carriedCr = !final && text.endsWith('\r');
    if (carriedCr) text = text.slice(0, -1);
    text = text.replaceAll('\r\n', '\n');
    const events: SseEvent[] = [];
    const emit = (raw: string) => {
      if (raw.trim() !== '') events.push(parseSseEvent(raw));
    };
    let from = 0;
    if (last === '\n' && text.startsWith('\n')) {
      emit(pending.join('').slice(0, -1));
      pending = [];
      pendingChars = 0;
      from = 1;
    }
    for (let end = text.indexOf('\n\n', from); end !== -1; end = text.indexOf('\n\n', from)) {
      pending.push(text.slice(from, end));
      emit(pending.join(''));
      pending = [];
      pendingChars = 0;
      from = end + 2;
    }
    const rest = text.slice(from);
    if (final) {
      emit(pending.join('') + rest);
      pending = [];
      pendingChars = 0;
      last = '';
      return events;
    }
    if (rest !== '') {
      pending.push(rest);
      pendingChars += rest.length;
      last = rest.at(-1)!;
    } else if (from > 0) {
      last = '';
    }
    if (pendingChars > maxChars) throw new Error(`the supplier sent an SSE event over ${maxChars} characters`);
    return events;
  };
  return {
    push: (bytes) => take(decoder.decode(bytes, { stream: true }), false),
    end: () => take(decoder.decode(), true),
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
