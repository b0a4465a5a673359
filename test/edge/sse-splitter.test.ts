// The SSE splitter against the simplest correct reading (the whole stream split at once): the
// same events for any cut of the bytes into chunks, CRLF and multi-byte characters across cuts
// included; and a bound on an event that never ends.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSseSplitter, parseSseEvent, type SseEvent } from '../../edge/sse.ts';

const encoder = new TextEncoder();

function wholeAtOnce(text: string): SseEvent[] {
  return text
    .replaceAll('\r\n', '\n')
    .split('\n\n')
    .filter((part) => part.trim() !== '')
    .map(parseSseEvent);
}

function inChunks(bytes: Uint8Array, cuts: number[], maxChars?: number): SseEvent[] {
  const splitter = createSseSplitter(maxChars);
  const events: SseEvent[] = [];
  let from = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
    events.push(...splitter.push(bytes.subarray(from, cut)));
    from = cut;
  }
  events.push(...splitter.push(bytes.subarray(from)));
  events.push(...splitter.end());
  return events;
}

// Lines as suppliers write them, with the separators that matter most: LF, CRLF, blank lines.
const piece = fc.constantFrom('data: {"a":1}', 'event: message_delta', ': keep-alive', 'data: é€😀', '\n', '\r\n', '\n\n', '\r\n\r\n', 'data:', ' ', 'x');
const stream = fc.array(piece, { maxLength: 40 }).map((parts) => parts.join(''));

describe('SSE splitter', () => {
  it('finds the same events however the stream is cut into chunks', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 12 }), (text, cuts) => {
        expect(inChunks(encoder.encode(text), cuts)).toEqual(wholeAtOnce(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('cuts one byte at a time too', () => {
    const text = 'event: a\r\ndata: {"x":"é"}\r\n\r\ndata: b\n\n\n\ndata: c\r\n\r';
    const bytes = encoder.encode(text);
    expect(inChunks(bytes, Array.from({ length: bytes.length }, (_, i) => i))).toEqual(wholeAtOnce(text));
  });

  it('throws once an event outgrows the bound, and not before', () => {
    const splitter = createSseSplitter(100);
    expect(splitter.push(encoder.encode(`data: ${'a'.repeat(90)}`))).toEqual([]);
    expect(splitter.push(encoder.encode('\n\n'))).toHaveLength(1);
    expect(splitter.push(encoder.encode(`data: ${'b'.repeat(90)}`))).toEqual([]);
    expect(() => splitter.push(encoder.encode('b'.repeat(20)))).toThrow(/over 100 characters/);
  });
});
