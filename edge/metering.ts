// Meters a supplier's chat response while it streams through: chunks are forwarded the moment a
// complete SSE event is in hand, and the usage report is read on the side. Text is never stored:
// only counts leave this module. Client disconnects cancel the upstream read at once.

import { errorBody } from '../shared/errors.ts';
import { ChatUsage } from '../shared/openai-chat.ts';
import { meteredFromChat } from './formats/token-usage.ts';
import { createSseSplitter, encodeSse, sseHeartbeat, type SseEvent } from './sse.ts';

export interface MeteredUsage {
  input: number;
  output: number;
  /** Part of `input` read from the supplier's prompt cache. */
  cachedInput: number;
  /** Part of `input` written to the prompt cache (Anthropic reports it; OpenAI does not). */
  cacheWrite?: number;
  /** Part of `output` spent reasoning. */
  reasoning: number;
  /** Audio surfaces: seconds billed per second (PRODUCT.md §5). */
  audioSeconds?: number;
  /**
   * True when some of these counts are the edge's own: audio seconds the supplier did not report,
   * or the output of an Anthropic stream cut before its final count (its input counts are real).
   */
  estimated?: boolean;
}

/**
 * Hears how a metered answer ended. A promise it returns holds the end of the answer (its last
 * bytes are sent, the body is not closed) until it settles: the usage event is on disk
 * (record-usage.ts). Never awaited for a client that went away.
 */
export type OnEnd = (result: MeterResult) => Promise<void> | void;

export interface MeterResult {
  usage: MeteredUsage | null;
  outcome: 'complete' | 'client_aborted' | 'upstream_failed';
  /** The status the client got, when not the supplier's (an answer that failed before its first byte was sent). */
  status?: number;
  /** Output tokens guessed from what passed through; used only when `usage` is null. */
  outputEstimate: number;
  /** Why the supplier's answer could not be read to its end (upstream_failed): a runtime error message, never content. */
  failure?: string;
}

/** An error's message for a log line: what the runtime said about a failed read. */
export const failureOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * A translation that threw on a supplier's answer, for the log: its error's name only, since the
 * message of an error raised over the answer's data may quote it (a JSON.parse SyntaxError does).
 */
export const untranslatable = (err: unknown): Error =>
  new Error(`the answer could not be translated (${err instanceof Error ? err.name : typeof err})`);

/** ~4 characters a token over what the model wrote: message content and tool-call arguments. */
function estimateTokens(choices: unknown): number {
  type Choice = { message?: { content?: unknown; tool_calls?: { function?: { arguments?: unknown } }[] } };
  let chars = 0;
  for (const choice of Array.isArray(choices) ? (choices as Choice[]) : []) {
    const message = choice?.message;
    if (typeof message?.content === 'string') chars += message.content.length;
    for (const call of Array.isArray(message?.tool_calls) ? message.tool_calls : []) {
      if (typeof call?.function?.arguments === 'string') chars += call.function.arguments.length;
    }
  }
  return Math.ceil(chars / 4);
}

/** An OpenAI usage object (chat completion or stream chunk) as metered counts, or null when it is not one. */
export function chatUsageOf(value: unknown): MeteredUsage | null {
  const parsed = ChatUsage.safeParse(value);
  return parsed.success ? meteredFromChat(parsed.data) : null;
}

/**
 * While a supplier is silent, an SSE answer gets a heartbeat at most this often. The runtime
 * learns that a client went away only when a write to it fails (the second after the disconnect),
 * and a heartbeat goes only after a tick with nothing sent, so a disconnected client keeps the
 * supplier working up to ~3 × this (measured ~450 ms end to end; the promise is a second).
 */
export const HEARTBEAT_MS = 150;

/**
 * A supplier silent this long in the middle of an answer (after its headers) is taken for hung:
 * the answer ends as a supplier failure and its call is cancelled. Without it, a hung supplier
 * with a client that keeps waiting held the request, its memory and its lease's reservation for
 * good. Far above any real pause (a reasoning model thinks for minutes, not a quarter hour).
 */
export const SUPPLIER_IDLE_LIMIT_MS = 15 * 60_000;

/** What a metered answer ends with when `result()` itself fails: nothing read, so the estimate. */
const NOTHING_READ = { usage: null, outputEstimate: 0 };

/** Waits for a read at most `ms`; null when the supplier said nothing for that long. */
async function readWithin(read: Promise<ReadableStreamReadResult<Uint8Array>>, ms: number): Promise<ReadableStreamReadResult<Uint8Array> | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  try {
    return await Promise.race([read, idle]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/**
 * Wraps an upstream body; `handle` turns each upstream chunk into what the client gets. Pulled,
 * never buffered ahead: a chunk is read from the supplier only when the client wants the next one,
 * and a client that goes away cancels the supplier's body as soon as the runtime notices, which
 * is at a write: `handle.heartbeat` (SSE answers) keeps writing while the supplier is silent (a
 * reasoning model may think for minutes), so it notices within ~0.5 s. With `handle.drain`, a
 * client that goes away has the rest of the answer read instead (see meter-json.ts for why).
 *
 * Every way an answer ends calls `onEnd` exactly once (its usage event and the settlement of its
 * reservation): a handle that throws ends the answer as a supplier failure, never as a stream
 * error that would skip it and leave the reservation held.
 */
export function meter(
  body: ReadableStream<Uint8Array>,
  handle: {
    chunk(bytes: Uint8Array): Uint8Array | null;
    end(): Uint8Array | null;
    failure(): Uint8Array | null;
    result(): Omit<MeterResult, 'outcome'>;
    /** Bytes the client may get at any event boundary with no effect (an SSE comment). */
    heartbeat?: () => Uint8Array;
    /**
     * After the client went away, each remaining chunk of the supplier's answer (sent nowhere)
     * until it returns false (then the supplier's body is cancelled); at the answer's end `end()`
     * runs, its bytes unsent. Reads stop at the idle limit as before.
     */
    drain?: (bytes: Uint8Array) => boolean;
    /** Tests only: SUPPLIER_IDLE_LIMIT_MS otherwise. */
    idleLimitMs?: number;
  },
  onEnd: OnEnd,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const idleLimitMs = handle.idleLimitMs ?? SUPPLIER_IDLE_LIMIT_MS;
  let ended = false;
  let cancelled = false;
  /** The read of the supplier a pull is waiting on; a drain takes it over. */
  let pending: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;
  // One timer per answer, from its first read to its end. A tick sends a heartbeat when the
  // client is waiting on a read of the supplier and got nothing since the last tick, and ends a
  // read of the supplier that has waited past the idle limit.
  let beat: ReturnType<typeof setInterval> | null = null;
  let waiting = false;
  /** When the read now waiting on the supplier began (a slow client's own pauses do not count). */
  let readSinceMs = 0;
  /** The idle limit cancelled the supplier's body: its end is a failure, not a complete answer. */
  let idle = false;
  let sent = false;
  const stopBeat = () => {
    if (beat !== null) clearInterval(beat);
    beat = null;
    waiting = false;
  };
  /** After the end's wait (OnEnd): a client that went away meanwhile has closed the stream already. */
  const close = (controller: ReadableStreamDefaultController<Uint8Array>) => {
    if (!cancelled) controller.close();
  };
  const finish = (outcome: MeterResult['outcome'], failure?: string): Promise<void> | void => {
    if (ended) return;
    ended = true;
    let result: Omit<MeterResult, 'outcome'>;
    try {
      result = handle.result();
    } catch {
      result = NOTHING_READ;
    }
    return onEnd({ ...result, outcome, ...(failure === undefined ? {} : { failure }) });
  };
  /**
   * After the first byte there is no failover: a supplier that fails, goes idle, or sends what
   * cannot be read (an event over the splitter's bound, an answer its translation throws on) ends
   * the stream with an error event.
   */
  const fail = async (controller: ReadableStreamDefaultController<Uint8Array>, err: unknown) => {
    stopBeat();
    let tail: Uint8Array | null = null;
    try {
      tail = handle.failure();
    } catch {
      // No error event then: the stream still ends, and the answer is still metered once.
    }
    if (tail) controller.enqueue(tail);
    await finish('upstream_failed', failureOf(err));
    close(controller);
  };
  /**
   * The client went away: the supplier's answer is read to its end (or to the drain's bound, or
   * the idle limit) so its own usage report can be read, then the answer ends as client_aborted.
   * A supplier that fails meanwhile leaves the result as it was (the estimate).
   */
  const drainRest = async (drain: (bytes: Uint8Array) => boolean, current: Promise<ReadableStreamReadResult<Uint8Array>> | null) => {
    try {
      for (let next = current ?? reader.read(); ; next = reader.read()) {
        const step = await readWithin(next, idleLimitMs);
        if (step === null) {
          void reader.cancel(new Error('supplier idle')).catch(() => {});
          break;
        }
        if (step.done) {
          handle.end();
          break;
        }
        if (!drain(step.value)) {
          void reader.cancel(new Error('client went away')).catch(() => {});
          break;
        }
      }
    } catch {
      // Read or translation failed: what was read stands.
    }
    await finish('client_aborted');
  };
  const send = (controller: ReadableStreamDefaultController<Uint8Array>, bytes: Uint8Array) => {
    sent = true;
    controller.enqueue(bytes);
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (beat === null && !ended) {
          const heartbeat = handle.heartbeat;
          beat = setInterval(() => {
            if (waiting && !idle && Date.now() - readSinceMs >= idleLimitMs) {
              idle = true;
              void reader.cancel(new Error('supplier idle')).catch(() => {});
              return;
            }
            if (heartbeat && waiting && !sent && !cancelled) controller.enqueue(heartbeat());
            sent = false;
          }, HEARTBEAT_MS);
        }
        for (;;) {
          let step: ReadableStreamReadResult<Uint8Array>;
          try {
            waiting = true;
            readSinceMs = Date.now();
            pending = reader.read();
            step = await pending;
          } catch (err) {
            // A client that went away meanwhile has its answer ended by `cancel` (and its drain).
            if (!cancelled) await fail(controller, err);
            return;
          } finally {
            pending = null;
          }
          waiting = false;
          if (cancelled) return;
          if (idle) {
            // A cancelled body reads as done: it was cut, not complete.
            await fail(controller, new Error(`the supplier sent nothing for ${Math.round(idleLimitMs / 1000)} s`));
            return;
          }
          if (step.done) {
            stopBeat();
            let tail: Uint8Array | null;
            try {
              tail = handle.end();
            } catch (err) {
              // E.g. a whole answer its translation cannot take (`content: [null]`).
              await fail(controller, untranslatable(err));
              return;
            }
            if (tail) controller.enqueue(tail);
            await finish('complete');
            close(controller);
            return;
          }
          let out: Uint8Array | null;
          try {
            out = handle.chunk(step.value);
          } catch (err) {
            void reader.cancel(err).catch(() => {});
            await fail(controller, err);
            return;
          }
          if (out && out.byteLength > 0) {
            send(controller, out);
            return;
          }
        }
      },
      async cancel(reason) {
        cancelled = true;
        stopBeat();
        if (handle.drain && !ended) {
          // Not awaited: the client is gone, and the request lives on in its usage event's waitUntil.
          void drainRest(handle.drain, pending);
          return;
        }
        void finish('client_aborted');
        await reader.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}

const USAGE_OBJECT = /"usage"\s*:\s*\{/;

/** SSE chat stream. `dropUsageChunk`: the client did not ask for usage, so its chunk is not forwarded. */
export function meterChatStream(
  body: ReadableStream<Uint8Array>,
  options: { dropUsageChunk: boolean; requestId: string },
  onEnd: OnEnd,
): ReadableStream<Uint8Array> {
  const splitter = createSseSplitter();
  let usage: MeteredUsage | null = null;
  let dataEvents = 0;

  function forwarded(event: SseEvent): boolean {
    if (event.data === '') return true;
    dataEvents++;
    // Only the (rare) chunk that mentions usage is parsed; content chunks pass untouched.
    if (!USAGE_OBJECT.test(event.data)) return true;
    try {
      const chunk = JSON.parse(event.data) as { usage?: unknown; choices?: unknown[] };
      const found = chatUsageOf(chunk.usage);
      if (found) usage = found;
      return !(found && options.dropUsageChunk && Array.isArray(chunk.choices) && chunk.choices.length === 0);
    } catch {
      return true;
    }
  }

  return meter(
    body,
    {
      chunk: (bytes) => encodeSse(splitter.push(bytes).filter(forwarded)),
      end: () => encodeSse(splitter.end().filter(forwarded)),
      failure: () => encodeSse([`data: ${JSON.stringify(errorBody('upstream_failed', 'The supplier failed mid-stream.', { requestId: options.requestId }))}`]),
      // About one token per content event; the role and finish events carry none.
      result: () => ({ usage, outputEstimate: Math.max(0, dataEvents - 2) }),
      heartbeat: sseHeartbeat,
    },
    onEnd,
  );
}

/** What a chat.completion says about its usage (or, without a report, what its text suggests). */
export function readChatAnswer(answer: Record<string, unknown> | null): { usage: MeteredUsage | null; outputEstimate: number } {
  const usage = chatUsageOf(answer?.usage);
  return { usage, outputEstimate: usage ? 0 : estimateTokens(answer?.choices) };
}
