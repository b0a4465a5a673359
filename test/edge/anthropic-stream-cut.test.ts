// Usage of an Anthropic stream cut short (edge/formats/messages-stream-to-chat.ts
// anthropicStreamUsage): message_start's input and cache counts are real, its output_tokens (1) is
// a placeholder; the output is known only from message_delta. A stream that ends before it — the
// client left, the supplier died or sent an error event — is billed its real input and the output
// estimated from what streamed, flagged estimated; never the placeholder as a report.
import { describe, expect, it } from 'vitest';
import { anthropicEvents, named } from './support/anthropic-replies.ts';
import { deferred, within } from './support/deferred.ts';
import type { Reply } from './support/fake-supplier.ts';
import { buildModel, buildRoute } from './support/manifest-builder.ts';
import { scenario } from './support/scenario.ts';
import { sseReader } from './support/sse.ts';

const USAGE = { input_tokens: 25, output_tokens: 400, cache_read_input_tokens: 5 };
const texts = (n: number) => Array.from({ length: n }, () => 'x');
/** message_start, content_block_start and ping come before the first text delta. */
const BEFORE_DELTAS = 3;

/**
 * Anthropic events one per read. `holdAt`: the event of that index waits until the edge cancels
 * the body (a supplier still generating). `failAt`: the body errors instead of sending it.
 */
function supplierStream(events: string[], options: { holdAt?: number; failAt?: number } = {}): Reply {
  return async () => {
    const encoder = new TextEncoder();
    const cancelled = deferred();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          if (sent === options.holdAt) await cancelled.promise;
          if (sent === options.failAt) return controller.error(new Error('supplier connection reset'));
          const event = events[sent++];
          if (event === undefined) controller.close();
          else controller.enqueue(encoder.encode(event));
        },
        cancel() {
          cancelled.resolve();
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  };
}

async function claude() {
  const route = buildRoute({ format: 'anthropic' });
  const s = await scenario({ model: buildModel({ routes: [route] }) });
  const messages = (extra: Record<string, unknown> = {}) =>
    s.edge.send('/v1/messages', {
      body: { model: s.model.id, max_tokens: 1000, stream: true, messages: [{ role: 'user', content: 'Hi' }], ...extra },
      headers: { 'x-api-key': s.key.token, 'anthropic-version': '2023-06-01' },
    });
  const chat = (extra: Record<string, unknown> = {}) =>
    s.edge.send('/v1/chat/completions', { key: s.key.token, body: { model: s.model.id, stream: true, messages: [{ role: 'user', content: 'Hi' }], ...extra } });
  const responses = () => s.edge.send('/v1/responses', { key: s.key.token, body: { model: s.model.id, stream: true, input: 'Hi' } });
  return { ...s, route, messages, chat, responses };
}

/** Reads events until `count` of them pass `test`, then cancels, as a client that leaves. */
async function leaveAfter(response: Response, count: number, test: (data: string) => boolean): Promise<void> {
  const reader = sseReader(response);
  for (let seen = 0; seen < count; ) {
    const data = await within(reader.next(), 2000, `event ${seen + 1}`);
    if (data === null) throw new Error('the stream ended before the client left');
    if (test(data)) seen++;
  }
  await reader.cancel(new Error('client went away'));
}

const isTextDelta = (data: string) => (JSON.parse(data) as { type?: string }).type === 'content_block_delta';
const isContentChunk = (data: string) => data !== '[DONE]' && (JSON.parse(data) as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content === 'x';

describe('an Anthropic stream cut before message_delta', () => {
  it('bills a /v1/messages client that left after 399 of 400 deltas for 399 estimated output tokens and its real input', async () => {
    const { edge, route, messages } = await claude();
    edge.supplier.script(route, supplierStream(anthropicEvents({ texts: texts(400), usage: USAGE }), { holdAt: BEFORE_DELTAS + 399 }));

    await leaveAfter(await messages(), 399, isTextDelta);
    await edge.settle();

    expect(edge.events()).toHaveLength(1);
    expect(edge.events()[0]).toMatchObject({ status: 200, input_tokens: 30, cached_input_tokens: 5, output_tokens: 399, estimated: true });
  });

  it('bills what streamed, flagged estimated, when the supplier dies mid-stream', async () => {
    const { edge, route, messages } = await claude();
    edge.supplier.script(route, supplierStream(anthropicEvents({ texts: texts(400), usage: USAGE }), { failAt: BEFORE_DELTAS + 50 }));

    await (await messages()).text();
    await edge.settle();

    expect(edge.events()).toMatchObject([{ status: 200, input_tokens: 30, output_tokens: 50, estimated: true }]);
  });

  it('bills what streamed, flagged estimated, when the supplier ends with an error event instead of message_delta', async () => {
    const { edge, route, messages } = await claude();
    const events = anthropicEvents({ texts: texts(10), usage: USAGE }).slice(0, BEFORE_DELTAS + 10);
    events.push(named('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }));
    edge.supplier.script(route, supplierStream(events));

    await (await messages()).text();
    await edge.settle();

    expect(edge.events()).toMatchObject([{ status: 200, input_tokens: 30, output_tokens: 10, estimated: true }]);
  });

  it('bills a chat client of a Claude model that left after 399 deltas for 399 estimated output tokens and its real input', async () => {
    const { edge, route, chat } = await claude();
    edge.supplier.script(route, supplierStream(anthropicEvents({ texts: texts(400), usage: USAGE }), { holdAt: BEFORE_DELTAS + 399 }));

    await leaveAfter(await chat({ stream_options: { include_usage: true } }), 399, isContentChunk);
    await edge.settle();

    expect(edge.events()).toMatchObject([{ status: 200, input_tokens: 30, cached_input_tokens: 5, output_tokens: 399, estimated: true }]);
  });

  it('bills a chat client of a Claude model what streamed when the supplier dies mid-stream, and sends no usage chunk', async () => {
    const { edge, route, chat } = await claude();
    edge.supplier.script(route, supplierStream(anthropicEvents({ texts: texts(400), usage: USAGE }), { failAt: BEFORE_DELTAS + 50 }));

    const events = await sseReader(await chat({ stream_options: { include_usage: true } })).rest();
    await edge.settle();

    expect(events.some((e) => e.includes('"usage"'))).toBe(false);
    expect(edge.events()).toMatchObject([{ status: 200, input_tokens: 30, output_tokens: 50, estimated: true }]);
  });

  it('counts thinking a chat client does not see towards the estimate of a cut stream', async () => {
    const { edge, route, chat } = await claude();
    const [start, ...rest] = anthropicEvents({ texts: texts(5), usage: USAGE });
    const thinking = [
      named('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '' } }),
      ...Array.from({ length: 100 }, () => named('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } })),
      named('content_block_stop', { index: 0 }),
    ];
    // The text block follows the thinking block; the stream dies after its five deltas.
    const events = [start!, ...thinking, ...rest.map((e) => e.replace('"index":0', '"index":1'))];
    edge.supplier.script(route, supplierStream(events, { failAt: 1 + thinking.length + 2 + 5 }));

    await (await chat()).text();
    await edge.settle();

    expect(edge.events()).toMatchObject([{ input_tokens: 30, output_tokens: 105, estimated: true }]);
  });

  it('still bills a whole stream exactly from message_delta', async () => {
    const { edge, route, messages, chat } = await claude();
    edge.supplier.script(route, supplierStream(anthropicEvents({ texts: texts(3), usage: USAGE })));

    await (await messages()).text();
    const chunks = await sseReader(await chat({ stream_options: { include_usage: true } })).rest();
    await edge.settle();

    expect(edge.events()).toMatchObject([
      { input_tokens: 30, output_tokens: 400, estimated: false },
      { input_tokens: 30, output_tokens: 400, estimated: false },
    ]);
    expect(chunks.find((e) => e.includes('"usage"'))).toContain('"completion_tokens":400');
  });

  it('bills a Responses client of a Claude model that left mid-stream an estimate, never the placeholder', async () => {
    const { edge, route, responses } = await claude();
    edge.supplier.script(route, supplierStream(anthropicEvents({ texts: texts(400), usage: USAGE }), { holdAt: BEFORE_DELTAS + 399 }));

    await leaveAfter(await responses(), 399, (data) => (JSON.parse(data) as { type?: string }).type === 'response.output_text.delta');
    await edge.settle();

    // The input is message_start's, not the request's bytes.
    expect(edge.events()).toMatchObject([{ status: 200, input_tokens: USAGE.input_tokens + USAGE.cache_read_input_tokens, cached_input_tokens: USAGE.cache_read_input_tokens, output_tokens: 399, estimated: true }]);
  });
});
