// Meters a supplier's (non-streaming) JSON answer: passed through as it arrives with a bounded
// side copy read for usage at the end, or, for a surface that must translate it, held (bounded)
// and answered translated once complete. Counts only leave this module, never the text.

import { meter, type MeteredUsage, type OnEnd } from './metering.ts';

const MAX_SIDE_COPY = 8 * 1024 * 1024;
const encoder = new TextEncoder();

export interface JsonReading {
  usage: MeteredUsage | null;
  /** Output tokens guessed from the answer, for one with no usage report. */
  outputEstimate: number;
}

/** An answer in the client's format, with what was read from it. */
export interface TranslatedAnswer extends JsonReading {
  body: unknown;
}

const NOTHING_READ: JsonReading = { usage: null, outputEstimate: 0 };

function concat(parts: readonly Uint8Array[], size: number): Uint8Array {
  const whole = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    whole.set(p, offset);
    offset += p.byteLength;
  }
  return whole;
}

/** The answer as a JSON object; null when too large to hold, not JSON, or not an object. */
function parseObject(parts: readonly Uint8Array[], size: number): Record<string, unknown> | null {
  if (size > MAX_SIDE_COPY) return null;
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(concat(parts, size)));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A bounded copy of a body as it passes: what cannot be held is simply not kept. */
function sideCopy() {
  const parts: Uint8Array[] = [];
  let size = 0;
  return {
    add(bytes: Uint8Array): void {
      size += bytes.byteLength;
      if (size <= MAX_SIDE_COPY) parts.push(bytes);
    },
    /** The copy as a JSON object (or null), releasing it. */
    take(): Record<string, unknown> | null {
      const answer = parseObject(parts, size);
      parts.length = 0;
      return answer;
    },
  };
}

/** Forwarded untouched; `read` gets the parsed answer, or null for one that cannot be read (plain text, too large). */
export function meterJsonPassThrough(
  body: ReadableStream<Uint8Array>,
  read: (answer: Record<string, unknown> | null) => JsonReading,
  onEnd: OnEnd,
): ReadableStream<Uint8Array> {
  const copy = sideCopy();
  let reading = NOTHING_READ;
  return meter(
    body,
    {
      chunk(bytes) {
        copy.add(bytes);
        return bytes;
      },
      end() {
        reading = read(copy.take());
        return null;
      },
      failure: () => null,
      result: () => reading,
    },
    onEnd,
  );
}

/**
 * Held until complete, then answered as `translate` says. An answer that cannot be read (too
 * large, not JSON, cut off) becomes `unreadable()`: the status line is already sent, so the body
 * must say in the client's own format that the answer failed.
 */
export function meterJsonTranslated(
  body: ReadableStream<Uint8Array>,
  translate: (answer: Record<string, unknown>) => TranslatedAnswer,
  unreadable: () => unknown,
  onEnd: OnEnd,
): ReadableStream<Uint8Array> {
  const copy = sideCopy();
  let reading = NOTHING_READ;
  return meter(
    body,
    {
      chunk(bytes) {
        copy.add(bytes);
        return null;
      },
      end() {
        const answer = copy.take();
        if (!answer) return encoder.encode(JSON.stringify(unreadable()));
        const { body: translated, ...rest } = translate(answer);
        reading = rest;
        return encoder.encode(JSON.stringify(translated));
      },
      failure: () => encoder.encode(JSON.stringify(unreadable())),
      result: () => reading,
    },
    onEnd,
  );
}
