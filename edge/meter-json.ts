// Meters a supplier's (non-streaming) JSON answer: passed through as it arrives with a bounded
// side copy read for usage at the end, or, for a surface that must translate it, held (bounded)
// and answered translated once complete. Counts only leave this module, never the text.
//
// An answer that declares its length (within the side-copy bound, not encoded) is read whole in
// one native call and answered as bytes once its usage event is stored: no JS stream for the
// common small answer (A/B on workerd in the README, "Performance"). Its client still gets all
// or nothing: a supplier that fails mid-answer, or sends an answer its translation cannot take,
// becomes a 502 in the client's format.
//
// A client that leaves an answer passed in pieces does not end its reading: the rest is read (into
// the same bounded side copy, under the same idle limit) and metered as if the client had stayed.
// Why not cancel and estimate: a non-streamed answer was generated whole before its first byte,
// so the supplier bills all of it whoever reads it, and its rest is already on its way; its own
// usage report is exact, where an estimate from the bytes passed would bill a fraction (before,
// a client that left after the first chunk paid no output at all), and the bytes of an answer say
// little of its tokens (JSON around them; an embedding's are not output at all). Cancelling it
// saves the supplier nothing.

import { ApiError } from '../shared/errors.ts';
import { framedLength } from './bounded-body.ts';
import { failureOf, meter, untranslatable, type MeteredUsage, type OnEnd } from './metering.ts';

const MAX_SIDE_COPY = 8 * 1024 * 1024;
const encoder = new TextEncoder();
/** Shared, like the encoder: whole buffers only, and one C++ object less per answer. */
const decoder = new TextDecoder();
/** TextEncoder's bytes are never shared memory, whatever its type says. */
const encodeJson = (value: unknown) => encoder.encode(JSON.stringify(value)) as Uint8Array<ArrayBuffer>;

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

/** What a JSON meter answers with: a stream, or the whole answer, given once its usage event is stored. */
export type JsonAnswerBody = ReadableStream<Uint8Array> | Promise<Uint8Array<ArrayBuffer>>;

function concat(parts: readonly Uint8Array[], size: number): Uint8Array {
  const whole = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    whole.set(p, offset);
    offset += p.byteLength;
  }
  return whole;
}

/** The answer as a JSON object; null when not JSON or not an object. */
function parseObject(bytes: Uint8Array): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(decoder.decode(bytes));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A bounded copy of a body as it passes: what cannot be held is simply not kept. */
function sideCopy() {
  const parts: Uint8Array[] = [];
  let size = 0;
  const add = (bytes: Uint8Array): void => {
    size += bytes.byteLength;
    if (size <= MAX_SIDE_COPY) parts.push(bytes);
  };
  return {
    add,
    /** Adds a chunk read after the client left; false once the copy is past its bound (no use reading on). */
    drain(bytes: Uint8Array): boolean {
      add(bytes);
      return size <= MAX_SIDE_COPY;
    },
    /** The copy as a JSON object (or null), releasing it. */
    take(): Record<string, unknown> | null {
      const answer = size > MAX_SIDE_COPY ? null : parseObject(concat(parts, size));
      parts.length = 0;
      return answer;
    },
  };
}

/** Whether an answer is read whole: its length is known from its headers and within the bound. */
function framed(upstream: Response): boolean {
  const length = framedLength(upstream);
  return length !== null && length <= MAX_SIDE_COPY;
}

/** Reads a framed answer whole and gives what `answer` makes of it once `onEnd` lets the answer end. */
async function meterWhole(upstream: Response, answer: (bytes: Uint8Array<ArrayBuffer>) => { out: Uint8Array<ArrayBuffer>; reading: JsonReading }, onEnd: OnEnd): Promise<Uint8Array<ArrayBuffer>> {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(await upstream.arrayBuffer());
  } catch (err) {
    // Nothing was sent yet: the client gets an error of its own format instead of a cut answer.
    await onEnd({ ...NOTHING_READ, outcome: 'upstream_failed', status: 502, failure: failureOf(err) });
    throw new ApiError('upstream_failed', 'The supplier failed mid-answer.');
  }
  let made: { out: Uint8Array<ArrayBuffer>; reading: JsonReading };
  try {
    made = answer(bytes);
  } catch (err) {
    // A translation that throws on what the supplier sent (`content: [null]`): still nothing sent.
    await onEnd({ ...NOTHING_READ, outcome: 'upstream_failed', status: 502, failure: failureOf(untranslatable(err)) });
    throw new ApiError('upstream_failed', 'The supplier sent an answer that could not be read.');
  }
  await onEnd({ ...made.reading, outcome: 'complete' });
  return made.out;
}

/** Forwarded untouched; `read` gets the parsed answer, or null for one that cannot be read (plain text, too large). */
export function meterJsonPassThrough(
  upstream: Response,
  read: (answer: Record<string, unknown> | null) => JsonReading,
  onEnd: OnEnd,
): JsonAnswerBody {
  // The client gets the supplier's bytes whatever `read` makes of them: a reader that throws (one
  // built on a translation, as readMessageAnswer is, given `content: [null]`) leaves the estimate.
  const readOrEstimate = (answer: Record<string, unknown> | null): JsonReading => {
    try {
      return read(answer);
    } catch {
      return NOTHING_READ;
    }
  };
  if (framed(upstream)) return meterWhole(upstream, (bytes) => ({ out: bytes, reading: readOrEstimate(parseObject(bytes)) }), onEnd);
  const copy = sideCopy();
  let reading = NOTHING_READ;
  return meter(
    upstream.body!,
    {
      chunk(bytes) {
        copy.add(bytes);
        return bytes;
      },
      end() {
        reading = readOrEstimate(copy.take());
        return null;
      },
      failure: () => null,
      result: () => reading,
      drain: (bytes) => copy.drain(bytes),
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
  upstream: Response,
  translate: (answer: Record<string, unknown>) => TranslatedAnswer,
  unreadable: () => unknown,
  onEnd: OnEnd,
): JsonAnswerBody {
  const translated = (answer: Record<string, unknown> | null): { out: Uint8Array<ArrayBuffer>; reading: JsonReading } => {
    if (!answer) return { out: encodeJson(unreadable()), reading: NOTHING_READ };
    const { body, ...reading } = translate(answer);
    return { out: encodeJson(body), reading };
  };
  if (framed(upstream)) return meterWhole(upstream, (bytes) => translated(parseObject(bytes)), onEnd);
  const copy = sideCopy();
  let reading = NOTHING_READ;
  return meter(
    upstream.body!,
    {
      chunk(bytes) {
        copy.add(bytes);
        return null;
      },
      end() {
        const done = translated(copy.take());
        reading = done.reading;
        return done.out;
      },
      failure: () => encodeJson(unreadable()),
      result: () => reading,
      drain: (bytes) => copy.drain(bytes),
    },
    onEnd,
  );
}
