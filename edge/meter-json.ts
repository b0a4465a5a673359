// Meters a supplier's (non-streaming) JSON answer: passed through as it arrives with a bounded
// side copy read for usage at the end, or, for a surface that must translate it, held (bounded)
// and answered translated once complete. Counts only leave this module, never the text.

import { meter, type MeterResult, type MeteredUsage } from './metering.ts';

const MAX_SIDE_COPY = 8 * 1024 * 1024;
const encoder = new TextEncoder();

export interface JsonReading {
  usage: MeteredUsage | null;
  outputEstimate: number;
}

function concat(parts: readonly Uint8Array[], size: number): Uint8Array {
  const whole = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    whole.set(p, offset);
    offset += p.byteLength;
  }
  return whole;
}

function parse(parts: readonly Uint8Array[], size: number): unknown {
  if (size > MAX_SIDE_COPY) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(concat(parts, size))) as unknown;
  } catch {
    return undefined;
  }
}

/** Forwarded untouched; `read` gets the parsed answer (undefined when too large or not JSON). */
export function meterJsonPassThrough(
  body: ReadableStream<Uint8Array>,
  read: (answer: unknown) => JsonReading,
  onEnd: (result: MeterResult) => void,
): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  let reading: JsonReading = { usage: null, outputEstimate: 0 };
  return meter(
    body,
    {
      chunk(bytes) {
        size += bytes.byteLength;
        if (size <= MAX_SIDE_COPY) parts.push(bytes);
        return bytes;
      },
      end() {
        reading = read(parse(parts, size));
        parts.length = 0;
        return null;
      },
      failure: () => null,
      result: () => reading,
    },
    onEnd,
  );
}

/** Held until complete, then answered as `translate` says; `translate` gets undefined for a body it cannot read. */
export function meterJsonTranslated(
  body: ReadableStream<Uint8Array>,
  translate: (answer: unknown) => JsonReading & { json: unknown },
  onEnd: (result: MeterResult) => void,
): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  let reading: JsonReading = { usage: null, outputEstimate: 0 };
  return meter(
    body,
    {
      chunk(bytes) {
        size += bytes.byteLength;
        if (size <= MAX_SIDE_COPY) parts.push(bytes);
        return null;
      },
      end() {
        const { json, ...rest } = translate(parse(parts, size));
        reading = rest;
        parts.length = 0;
        return encoder.encode(JSON.stringify(json));
      },
      // The status line is sent already: the translation of "no answer" says the response failed.
      failure: () => encoder.encode(JSON.stringify(translate(undefined).json)),
      result: () => reading,
    },
    onEnd,
  );
}
