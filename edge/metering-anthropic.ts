// Metering of Anthropic-format answers and of translated answers, built on `meter()` from
// metering.ts. Passed-through Anthropic streams are forwarded event by event with usage read from
// message_start (input, cache) and message_delta (cumulative output); translated streams go
// through a StreamTranslator, one supplier event at a time. Only counts leave this module.

import { MessagesUsage } from '../shared/anthropic-messages.ts';
import { chatCompletionFromMessage, type TranslatedAnswer } from './formats/message-to-chat-completion.ts';
import type { StreamTranslator } from './formats/stream-translator.ts';
import { countsFromMessagesUsage, meteredFromAnthropic, type AnthropicCounts } from './formats/token-usage.ts';
import { meter, type MeterResult } from './metering.ts';
import { createSseSplitter, encodeSse, type SseEvent } from './sse.ts';

const MAX_SIDE_COPY = 8 * 1024 * 1024;
const USAGE_OBJECT = /"usage"\s*:\s*\{/;

/** An Anthropic SSE stream passed through as is to an Anthropic client. */
export function meterMessagesStream(body: ReadableStream<Uint8Array>, onEnd: (result: MeterResult) => void): ReadableStream<Uint8Array> {
  const splitter = createSseSplitter();
  let counts: AnthropicCounts | null = null;
  let deltas = 0;
  const read = (event: SseEvent): boolean => {
    if (event.event === 'content_block_delta') deltas++;
    // Only message_start and message_delta carry usage; content events pass unparsed.
    else if ((event.event === 'message_start' || event.event === 'message_delta') && USAGE_OBJECT.test(event.data)) {
      try {
        const data = JSON.parse(event.data) as { message?: { usage?: unknown }; usage?: unknown };
        const parsed = MessagesUsage.safeParse(event.event === 'message_start' ? data.message?.usage : data.usage);
        if (parsed.success) {
          const next = countsFromMessagesUsage(parsed.data);
          counts = counts && event.event === 'message_delta'
            ? { ...counts, output_tokens: next.output_tokens, ...(parsed.data.input_tokens != null ? { input_tokens: next.input_tokens } : {}) }
            : next;
        }
      } catch {
        // A malformed event passes through; the usage falls back to an estimate.
      }
    }
    return true;
  };
  return meter(
    body,
    {
      chunk: (bytes) => encodeSse(splitter.push(bytes).filter(read)),
      end: () => encodeSse(splitter.end().filter(read)),
      failure: () => encodeSse([`event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'api_error', message: 'The supplier failed mid-stream.' } })}`]),
      result: () => ({ usage: counts && meteredFromAnthropic(counts), outputEstimate: deltas }),
    },
    onEnd,
  );
}

/** A supplier stream translated event by event into the client's format. */
export function meterTranslatedStream(body: ReadableStream<Uint8Array>, translator: StreamTranslator, onEnd: (result: MeterResult) => void): ReadableStream<Uint8Array> {
  const splitter = createSseSplitter();
  const translate = (events: SseEvent[]) => encodeSse(events.flatMap((e) => translator.push(e)));
  return meter(
    body,
    {
      chunk: (bytes) => translate(splitter.push(bytes)),
      end: () => encodeSse([...splitter.end().flatMap((e) => translator.push(e)), ...translator.end()]),
      failure: () => encodeSse(translator.failure()),
      result: () => ({ usage: translator.usage(), outputEstimate: translator.outputEstimate() }),
    },
    onEnd,
  );
}

/**
 * A JSON answer that needs the whole body: the Anthropic message passed through (`translate`
 * null, only the usage is read), or translated into the client's format at the end. Bounded: a
 * body over the limit passes through untranslated rather than being held in memory.
 */
export function meterJsonAnswer(
  body: ReadableStream<Uint8Array>,
  translate: ((json: Record<string, unknown>) => TranslatedAnswer) | null,
  onEnd: (result: MeterResult) => void,
): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  let answer: TranslatedAnswer | null = null;
  return meter(
    body,
    {
      chunk(bytes) {
        size += bytes.byteLength;
        if (size <= MAX_SIDE_COPY) parts.push(bytes);
        // Passed through as it arrives unless it must be translated whole.
        return translate && size <= MAX_SIDE_COPY ? null : bytes;
      },
      end() {
        const whole = size <= MAX_SIDE_COPY ? concat(parts, size) : null;
        parts.length = 0;
        const json = whole && parseObject(whole);
        if (json) answer = (translate ?? passThroughUsage)(json);
        if (!translate || !whole) return null;
        return answer ? new TextEncoder().encode(JSON.stringify(answer.body)) : whole;
      },
      failure: () => null,
      result: () => ({ usage: answer?.usage ?? null, outputEstimate: answer?.outputEstimate ?? 0 }),
    },
    onEnd,
  );
}

// The usage of an Anthropic message, read as a translation would read it.
const passThroughUsage = (json: Record<string, unknown>): TranslatedAnswer => chatCompletionFromMessage(json, { model: '', created: 0 });

function concat(parts: readonly Uint8Array[], size: number): Uint8Array {
  const whole = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    whole.set(p, offset);
    offset += p.byteLength;
  }
  return whole;
}

function parseObject(bytes: Uint8Array): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
