// A fake OpenAI-compatible supplier injected as the edge's `fetchUpstream`: each route's base URL
// gets a script of replies (JSON completions, SSE streams with a usage chunk, or faults), and every
// call is recorded so a test can count and inspect what left the edge.

import type { RouteEntry } from '../../../shared/manifest.ts';
import type { Deferred } from './deferred.ts';

export interface UpstreamCall {
  url: string;
  method: string;
  headers: Headers;
  body: Record<string, unknown>;
  /** The body as sent; `body` is {} when it is not JSON (multipart uploads). */
  rawBody: Uint8Array;
  signal: AbortSignal | null;
}

export type Reply = (call: UpstreamCall) => Promise<Response>;

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export const usageOf = (prompt: number, completion: number): Usage => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  total_tokens: prompt + completion,
});

export interface FakeSupplier {
  fetch: typeof fetch;
  calls: UpstreamCall[];
  callsTo: (route: RouteEntry) => UpstreamCall[];
  /** Replies of a route, in order; the last one repeats. */
  script: (route: RouteEntry, ...replies: Reply[]) => void;
}

export function createFakeSupplier(): FakeSupplier {
  const calls: UpstreamCall[] = [];
  const scripts = new Map<string, { replies: Reply[]; used: number }>();
  const baseOf = (route: RouteEntry) => route.base_url.replace(/\/+$/, '');

  const fakeFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const rawBody = new Uint8Array(await request.arrayBuffer());
    const text = new TextDecoder().decode(rawBody);
    const call: UpstreamCall = {
      url: request.url,
      method: request.method,
      headers: request.headers,
      body: text && request.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : {},
      rawBody,
      signal: init?.signal ?? null,
    };
    calls.push(call);
    const entry = [...scripts.entries()].find(([base]) => call.url.startsWith(`${base}/`))?.[1];
    if (!entry) throw new TypeError(`fake supplier: nothing scripted for ${call.url}`);
    const reply = entry.replies[Math.min(entry.used, entry.replies.length - 1)]!;
    entry.used++;
    return reply(call);
  };

  return {
    fetch: fakeFetch as typeof fetch,
    calls,
    callsTo: (route) => calls.filter((c) => c.url.startsWith(`${baseOf(route)}/`)),
    script(route, ...replies) {
      scripts.set(baseOf(route), { replies, used: 0 });
    },
  };
}

// ---- replies -------------------------------------------------------------------------------

/** Observes what the edge does with a body it was given. */
export interface BodyProbe {
  cancelled: boolean;
  cancelReason: unknown;
}

export const bodyProbe = (): BodyProbe => ({ cancelled: false, cancelReason: undefined });

/** Produces nothing until read (highWaterMark 0), so a cancel before reading reaches the source. */
function probedBody(text: string, probe?: BodyProbe): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        controller.enqueue(bytes);
        controller.close();
      },
      cancel(reason) {
        if (probe) {
          probe.cancelled = true;
          probe.cancelReason = reason;
        }
      },
    },
    { highWaterMark: 0 },
  );
}

export function completion(options: { content: string; usage?: Usage | null }): Reply {
  return async (call) => {
    const body: Record<string, unknown> = {
      id: `chatcmpl-${crypto.randomUUID()}`,
      object: 'chat.completion',
      created: 1_900_000_000,
      model: call.body.model,
      choices: [{ index: 0, message: { role: 'assistant', content: options.content }, finish_reason: 'stop' }],
    };
    const usage = options.usage === undefined ? usageOf(11, 7) : options.usage;
    if (usage) body.usage = usage;
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
  };
}

export interface StreamOptions {
  /** One content chunk per entry. */
  contents: readonly string[];
  /** Sent as a final chunk with `choices: []` when the request asked for it (like OpenAI); null: never. */
  usage?: Usage | null;
  /** Everything after the first event waits for this. */
  holdAfterFirst?: Deferred<void>;
  /** Errors the stream after this many events have been read. */
  failAfterEvents?: number;
  /** Re-cuts the bytes into pieces of this size, splitting events across chunks. */
  chunkBytes?: number;
  probe?: BodyProbe;
}

export function chunkEvent(id: string, model: unknown, choices: unknown[], extra: Record<string, unknown> = {}): string {
  return `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1_900_000_000, model, choices, ...extra })}\n\n`;
}

export function stream(options: StreamOptions): Reply {
  return async (call) => {
    const id = `chatcmpl-${crypto.randomUUID()}`;
    const model = call.body.model;
    const events = [
      chunkEvent(id, model, [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
      ...options.contents.map((content) => chunkEvent(id, model, [{ index: 0, delta: { content }, finish_reason: null }])),
      chunkEvent(id, model, [{ index: 0, delta: {}, finish_reason: 'stop' }]),
    ];
    const usage = options.usage === undefined ? usageOf(11, options.contents.length) : options.usage;
    const asked = (call.body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
    if (usage && asked) events.push(chunkEvent(id, model, [], { usage }));
    events.push('data: [DONE]\n\n');

    const encoder = new TextEncoder();
    let pieces: Uint8Array[] = events.map((e) => encoder.encode(e));
    if (options.chunkBytes) {
      const all = encoder.encode(events.join(''));
      pieces = [];
      for (let i = 0; i < all.byteLength; i += options.chunkBytes) pieces.push(all.slice(i, i + options.chunkBytes));
    }
    let sent = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          if (sent === 1 && options.holdAfterFirst) await options.holdAfterFirst.promise;
          if (options.failAfterEvents !== undefined && sent >= options.failAfterEvents) {
            controller.error(new Error('supplier connection reset'));
            return;
          }
          const piece = pieces[sent++];
          if (piece) controller.enqueue(piece);
          else controller.close();
        },
        cancel(reason) {
          if (options.probe) {
            options.probe.cancelled = true;
            options.probe.cancelReason = reason;
          }
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  };
}

export function networkError(): Reply {
  return async () => {
    throw new TypeError('Network connection lost.');
  };
}

/** A supplier error in OpenAI's shape: `{ error: { message, type, code } }`. */
export function openAiError(status: number, message: string, probe?: BodyProbe): Reply {
  return async () =>
    new Response(probedBody(JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code: null } }), probe), {
      status,
      headers: { 'content-type': 'application/json' },
    });
}

/** Never answers; gives up only when the edge aborts the request, as fetch does. */
export function hang(): Reply {
  return (call) =>
    new Promise<Response>((_, reject) => {
      const signal = call.signal;
      if (!signal) return;
      const abort = () => reject(signal.reason ?? new DOMException('The operation was aborted.', 'AbortError'));
      if (signal.aborted) abort();
      else signal.addEventListener('abort', abort, { once: true });
    });
}
