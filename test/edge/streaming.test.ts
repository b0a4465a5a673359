// Streamed chat completions through the edge: events flow through as they arrive, the usage
// chunk is forwarded only when the client asked for it, a mid-stream failure ends the stream with
// an error event, a silent supplier is covered by SSE heartbeats, and a client that goes away
// stops the supplier's stream.
import { describe, expect, it } from 'vitest';
import { deferred, within } from './support/deferred.ts';
import { bodyProbe, stream, usageOf } from './support/fake-supplier.ts';
import { HEARTBEAT_MS } from '../../edge/metering.ts';
import { chatBody, scenario } from './support/scenario.ts';
import { sseReader, streamedText } from './support/sse.ts';

interface Chunk {
  choices: { delta?: { role?: string; content?: string } }[];
  usage?: unknown;
}

const parse = (data: string) => JSON.parse(data) as Chunk;

async function streamingScenario() {
  const s = await scenario();
  const route = s.model.routes[0]!;
  const ask = (extra: Record<string, unknown> = {}) =>
    s.edge.send('/v1/chat/completions', { key: s.key.token, body: chatBody(s.model.id, { stream: true, ...extra }) });
  return { ...s, route, ask };
}

describe('edge streaming', () => {
  it('forwards each event as it arrives, before the supplier has sent the rest', async () => {
    const { edge, route, ask } = await streamingScenario();
    const release = deferred();
    edge.supplier.script(route, stream({ contents: ['Hel', 'lo'], holdAfterFirst: release }));

    const response = await within(ask(), 500, 'response headers');
    const reader = sseReader(response);
    const first = await within(reader.next(), 500, 'first event');

    expect(parse(first!).choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    release.resolve();
    const rest = await reader.rest();
    expect(streamedText(rest)).toBe('Hello');
    expect(rest.at(-1)).toBe('[DONE]');
  });

  it('answers a stream as text/event-stream, uncached, naming the supplier used', async () => {
    const { edge, route, ask } = await streamingScenario();
    edge.supplier.script(route, stream({ contents: ['x'] }));

    const response = await ask();
    await sseReader(response).rest();

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(response.headers.get('x-taas-supplier')).toBe(route.supplier_id);
  });

  it('does not forward the usage-only chunk when the client did not ask for include_usage, yet meters its usage', async () => {
    const { edge, route, ask } = await streamingScenario();
    edge.supplier.script(route, stream({ contents: ['a', 'b', 'c'], usage: usageOf(21, 3) }));

    const events = await sseReader(await ask()).rest();
    await edge.settle();

    expect(events.filter((e) => e !== '[DONE]').map(parse).filter((c) => c.usage !== undefined || c.choices.length === 0)).toEqual([]);
    expect(events.at(-1)).toBe('[DONE]');
    expect(streamedText(events)).toBe('abc');
    expect(edge.events()).toHaveLength(1);
    expect(edge.events()[0]).toMatchObject({ input_tokens: 21, output_tokens: 3, estimated: false });
  });

  it('forwards the usage chunk when the client asked for include_usage', async () => {
    const { edge, route, ask } = await streamingScenario();
    edge.supplier.script(route, stream({ contents: ['a'], usage: usageOf(21, 1) }));

    const events = await sseReader(await ask({ stream_options: { include_usage: true } })).rest();

    const usageChunks = events.filter((e) => e !== '[DONE]').map(parse).filter((c) => c.usage !== undefined);
    expect(usageChunks).toHaveLength(1);
    expect(usageChunks[0]).toMatchObject({ choices: [], usage: usageOf(21, 1) });
    expect(events.at(-1)).toBe('[DONE]');
  });

  it('reassembles events the supplier splits across chunks, and still drops the usage chunk', async () => {
    const { edge, route, ask } = await streamingScenario();
    edge.supplier.script(route, stream({ contents: ['split ', 'across ', 'chunks'], usage: usageOf(8, 3), chunkBytes: 7 }));

    const events = await sseReader(await ask()).rest();
    await edge.settle();

    expect(streamedText(events)).toBe('split across chunks');
    expect(events.filter((e) => e.includes('"usage"'))).toEqual([]);
    expect(edge.events()[0]).toMatchObject({ input_tokens: 8, output_tokens: 3, estimated: false });
  });

  it('ends the client stream with an error event and no [DONE] when the supplier fails mid-stream', async () => {
    const { edge, route, ask } = await streamingScenario();
    edge.supplier.script(route, stream({ contents: ['a', 'b', 'c'], failAfterEvents: 2 }));

    const response = await ask();
    const events = await within(sseReader(response).rest(), 1_000, 'stream end');

    expect(response.status).toBe(200);
    expect(events).not.toContain('[DONE]');
    expect(streamedText(events.slice(0, -1))).toBe('a');
    expect(JSON.parse(events.at(-1)!)).toEqual({
      error: {
        message: expect.any(String),
        type: 'upstream_error',
        code: 'upstream_failed',
        param: null,
        request_id: response.headers.get('x-request-id'),
      },
    });
    await edge.settle();
    const line = edge.logs.find((l) => l.msg === 'supplier failed mid-answer');
    expect(line?.fields).toMatchObject({ request_id: response.headers.get('x-request-id'), supplier: route.supplier_id, error: expect.any(String) });
  });

  it('sends SSE comments while the supplier is silent, so a client that left is found out', async () => {
    const { edge, route, ask } = await streamingScenario();
    const release = deferred();
    edge.supplier.script(route, stream({ contents: ['Hel', 'lo'], holdAfterFirst: release }));

    const response = await within(ask(), 500, 'response headers');
    const reading = response.text();
    await new Promise((resolve) => setTimeout(resolve, 4 * HEARTBEAT_MS));
    release.resolve();
    const text = await reading;
    const beats = text.split('\n\n').filter((e) => e === ': keep-alive');
    expect(beats.length).toBeGreaterThanOrEqual(2);
    expect(beats.length).toBeLessThanOrEqual(4);
    // Only after the first event and between events (each beat is an event of its own), never after the last.
    expect(text.indexOf(': keep-alive')).toBeGreaterThan(text.indexOf('data: '));
    expect(text.lastIndexOf(': keep-alive')).toBeLessThan(text.indexOf('data: [DONE]'));
    const events = text.split('\n\n').filter((e) => e !== '' && e !== ': keep-alive');
    expect(events.every((e) => e.startsWith('data: '))).toBe(true);
    expect(streamedText(events.map((e) => e.slice('data: '.length)))).toBe('Hello');
    await edge.settle();
  });

  it('sends no heartbeat to a stream that keeps flowing', async () => {
    const { edge, route, ask } = await streamingScenario();
    edge.supplier.script(route, stream({ contents: ['a', 'b', 'c'] }));
    const text = await (await ask()).text();
    expect(text).not.toContain('keep-alive');
    await edge.settle();
  });

  it('ends the stream with an error event and stops the supplier when an event never ends', async () => {
    const { edge, route, ask } = await streamingScenario();
    const probe = bodyProbe();
    const megabyte = new TextEncoder().encode('a'.repeat(1024 * 1024));
    let sent = 0;
    // A broken supplier: one event that keeps growing and never ends (no blank line).
    edge.supplier.script(route, async () => {
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.enqueue(sent++ === 0 ? new TextEncoder().encode('data: {"choices":[{"delta":{"content":"') : megabyte);
        },
        cancel(reason) {
          probe.cancelled = true;
          probe.cancelReason = reason;
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    });

    const response = await ask();
    const events = await within(sseReader(response).rest(), 10_000, 'stream end');

    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]!)).toMatchObject({ error: { code: 'upstream_failed' } });
    await edge.settle();
    expect(probe.cancelled).toBe(true);
    // Held at most one bound's worth (16 MiB) and a chunk, not the supplier's whole output.
    expect(sent).toBeLessThan(20);
    expect(edge.events()).toMatchObject([{ status: 200 }]);
    expect(edge.logs.find((l) => l.msg === 'supplier failed mid-answer')?.fields?.error).toMatch(/SSE event over/);
  });

  it('cancels the supplier\'s stream when the client cancels its reader', async () => {
    const { edge, route, ask } = await streamingScenario();
    const probe = bodyProbe();
    const never = deferred();
    edge.supplier.script(route, stream({ contents: ['a', 'b'], holdAfterFirst: never, probe }));

    const reader = sseReader(await ask());
    await within(reader.next(), 500, 'first event');
    await reader.cancel(new Error('client went away'));
    await edge.settle();

    expect(probe.cancelled).toBe(true);
    // The request still leaves exactly one usage event behind.
    expect(edge.events()).toHaveLength(1);
    never.resolve();
  });
});
