// Metering of Anthropic-format answers and of translated answers, built on `meter()` from
// metering.ts. Passed-through Anthropic streams are forwarded event by event with usage read from
// message_start (input, cache) and message_delta (cumulative output; until it came, the output is
// an estimate: anthropicStreamUsage); translated streams go through a StreamTranslator, one
// supplier event at a time. Only counts leave this module.

import { chatCompletionFromMessage } from './formats/message-to-chat-completion.ts';
import { anthropicStreamUsage } from './formats/messages-stream-to-chat.ts';
import type { JsonReading } from './meter-json.ts';
import type { StreamTranslator } from './formats/stream-translator.ts';
import { meter, type OnEnd } from './metering.ts';
import { createSseSplitter, encodeSse, sseHeartbeat, type SseEvent } from './sse.ts';

const USAGE_OBJECT = /"usage"\s*:\s*\{/;

/** An Anthropic SSE stream passed through as is to an Anthropic client. */
export function meterMessagesStream(body: ReadableStream<Uint8Array>, onEnd: OnEnd): ReadableStream<Uint8Array> {
  const splitter = createSseSplitter();
  const usage = anthropicStreamUsage();
  let deltas = 0;
  const read = (event: SseEvent): boolean => {
    if (event.event === 'content_block_delta') deltas++;
    // Only message_start and message_delta carry usage; content events pass unparsed.
    else if ((event.event === 'message_start' || event.event === 'message_delta') && USAGE_OBJECT.test(event.data)) {
      try {
        const data = JSON.parse(event.data) as { message?: { usage?: unknown }; usage?: unknown };
        if (event.event === 'message_start') usage.start(data.message?.usage);
        else usage.delta(data.usage);
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
      result: () => ({ usage: usage.metered(deltas), outputEstimate: deltas }),
      heartbeat: sseHeartbeat,
    },
    onEnd,
  );
}

/** A supplier stream translated event by event into the client's format. */
export function meterTranslatedStream(body: ReadableStream<Uint8Array>, translator: StreamTranslator, onEnd: OnEnd): ReadableStream<Uint8Array> {
  const splitter = createSseSplitter();
  const translate = (events: SseEvent[]) => encodeSse(events.flatMap((e) => translator.push(e)));
  return meter(
    body,
    {
      chunk: (bytes) => translate(splitter.push(bytes)),
      end: () => encodeSse([...splitter.end().flatMap((e) => translator.push(e)), ...translator.end()]),
      failure: () => encodeSse(translator.failure()),
      result: () => ({ usage: translator.usage(), outputEstimate: translator.outputEstimate() }),
      heartbeat: sseHeartbeat,
    },
    onEnd,
  );
}

/** What an Anthropic message says about its usage, read as a translation would read it. */
export function readMessageAnswer(answer: Record<string, unknown> | null): JsonReading {
  const { usage, outputEstimate } = chatCompletionFromMessage(answer ?? {}, { model: '', created: 0 });
  return { usage, outputEstimate };
}
