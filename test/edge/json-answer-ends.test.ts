// How a non-streamed answer passed in pieces (no declared length, or encoded: edge/meter-json.ts)
// ends when it does not simply complete. A client that leaves has the rest read and pays what the
// supplier reported (the supplier generated it all before its first byte); an answer the edge
// cannot translate ends in an error of the client's format, with one usage event that settles
// the request's reservation, never a broken stream that skips both.
import { describe, expect, it } from 'vitest';
import { meterJsonPassThrough } from '../../edge/meter-json.ts';
import { meter, type MeterResult } from '../../edge/metering.ts';
import { deferred, within } from './support/deferred.ts';
import type { Reply } from './support/fake-supplier.ts';
import { buildModel, buildRoute } from './support/manifest-builder.ts';
import { chatBody, scenario } from './support/scenario.ts';

const encoder = new TextEncoder();

/**
 * A JSON answer in two pieces, no length declared. The second waits for `rest` (still on its way
 * when the client leaves); `probe` tells whether the edge read it all or cancelled it.
 */
function inPieces(json: string, options: { rest?: Promise<void>; headers?: Record<string, string> } = {}) {
  const probe = { cancelled: false, done: false };
  const cut = Math.floor(json.length / 3);
  const pieces = [json.slice(0, cut), json.slice(cut)];
  const reply: Reply = async () => {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          if (sent === 1 && options.rest) await options.rest;
          const piece = pieces[sent++];
          if (piece === undefined) {
            probe.done = true;
            return controller.close();
          }
          controller.enqueue(encoder.encode(piece));
        },
        cancel() {
          probe.cancelled = true;
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { status: 200, headers: { 'content-type': 'application/json', ...options.headers } });
  };
  return { reply, probe };
}

/** The same answer with its length declared: read whole. */
function framed(json: string): Reply {
  return async () => new Response(json, { status: 200, headers: { 'content-type': 'application/json', 'content-length': String(encoder.encode(json).byteLength) } });
}

const chatAnswer = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1_900_000_000,
    model: 'm',
    choices: [{ index: 0, message: { role: 'assistant', content: 'A long answer. '.repeat(40) }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 12, completion_tokens: 345, total_tokens: 357 },
    ...extra,
  });

const claudeAnswer = (content: unknown[]) =>
  JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content, stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 9, output_tokens: 321 } });

async function claudeScenario() {
  const route = buildRoute({ format: 'anthropic' });
  return { ...(await scenario({ model: buildModel({ routes: [route] }) })), route };
}

describe('a client that leaves a non-streamed answer passed in pieces', () => {
  it('pays the supplier\'s reported usage, read from the rest of the answer after it left', async () => {
    const { edge, key, model } = await scenario();
    const rest = deferred();
    const { reply, probe } = inPieces(chatAnswer(), { rest: rest.promise, headers: { 'content-encoding': 'gzip' } });
    edge.supplier.script(model.routes[0]!, reply);

    const reader = (await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) })).body!.getReader();
    await within(reader.read(), 1000, 'first piece');
    await reader.cancel(new Error('client went away'));
    rest.resolve();
    await edge.settle();

    expect(probe).toEqual({ cancelled: false, done: true });
    expect(edge.events()).toMatchObject([{ status: 200, input_tokens: 12, output_tokens: 345, estimated: false }]);
  });

  it('pays what a Claude answer reports on /v1/messages', async () => {
    const { edge, key, model, route } = await claudeScenario();
    const rest = deferred();
    edge.supplier.script(route, inPieces(claudeAnswer([{ type: 'text', text: 'Hello. '.repeat(30) }]), { rest: rest.promise }).reply);

    const response = await edge.send('/v1/messages', {
      body: { model: model.id, max_tokens: 500, messages: [{ role: 'user', content: 'Hi' }] },
      headers: { 'x-api-key': key.token, 'anthropic-version': '2023-06-01' },
    });
    const reader = response.body!.getReader();
    await within(reader.read(), 1000, 'first piece');
    await reader.cancel();
    rest.resolve();
    await edge.settle();

    expect(edge.events()).toMatchObject([{ status: 200, input_tokens: 9, output_tokens: 321, estimated: false }]);
  });

  it('pays what a translated answer reports when it leaves before the answer was whole', async () => {
    const { edge, key, model, route } = await claudeScenario();
    const rest = deferred();
    edge.supplier.script(route, inPieces(claudeAnswer([{ type: 'text', text: 'Hello.' }]), { rest: rest.promise }).reply);

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    await response.body!.cancel(new Error('client went away'));
    rest.resolve();
    await edge.settle();

    expect(edge.events()).toMatchObject([{ status: 200, input_tokens: 9, output_tokens: 321, estimated: false }]);
  });

  it('stops reading at the side copy\'s 8 MiB bound, and still ends the answer once', async () => {
    const MiB = new Uint8Array(1024 * 1024).fill(0x20);
    let read = 0;
    let cancelled = false;
    const supplier = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          read++;
          controller.enqueue(MiB);
        },
        cancel() {
          cancelled = true;
        },
      },
      { highWaterMark: 0 },
    );
    const results: MeterResult[] = [];
    const body = meterJsonPassThrough(new Response(supplier), () => ({ usage: null, outputEstimate: 0 }), (r) => void results.push(r));
    if (!(body instanceof ReadableStream)) throw new Error('expected the answer passed in pieces');

    const reader = body.getReader();
    await reader.read();
    await reader.cancel();
    await within(
      (async () => {
        while (results.length === 0) await new Promise((r) => setTimeout(r, 5));
      })(),
      2000,
      'the end of the answer',
    );

    expect(cancelled).toBe(true);
    expect(read).toBe(9);
    expect(results).toEqual([expect.objectContaining({ outcome: 'client_aborted', usage: null })]);
  });

  it('stops reading a supplier that goes silent after the client left, at the idle limit', async () => {
    let cancelled = false;
    const supplier = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('{"a":'));
      },
      cancel() {
        cancelled = true;
      },
    });
    const drained: string[] = [];
    const ended = deferred<MeterResult>();
    const stream = meter(
      supplier,
      {
        chunk: (bytes) => bytes,
        end: () => null,
        failure: () => null,
        result: () => ({ usage: null, outputEstimate: 0 }),
        drain: (bytes) => (drained.push(new TextDecoder().decode(bytes)), true),
        idleLimitMs: 200,
      },
      (r) => ended.resolve(r),
    );

    const reader = stream.getReader();
    await reader.read();
    const started = Date.now();
    await reader.cancel();

    expect(await within(ended.promise, 2000, 'the end of the answer')).toMatchObject({ outcome: 'client_aborted' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(cancelled).toBe(true);
    expect(drained).toEqual([]);
  });
});

describe('an answer passed in pieces that the edge cannot translate', () => {
  it('ends a chat answer of a Claude model holding content [null] with the OpenAI error, and one usage event', async () => {
    const { edge, key, model, route } = await claudeScenario();
    edge.supplier.script(route, inPieces(claudeAnswer([null])).reply);

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    const text = await within(response.text(), 2000, 'the answer');
    await edge.settle();

    expect(JSON.parse(text)).toMatchObject({ error: { code: 'upstream_failed' } });
    // One event: the reservation it names is settled, so the lease is not held (nor extended) for good.
    expect(edge.events()).toHaveLength(1);
    expect(edge.events()[0]!.lease_ids!.length).toBeGreaterThan(0);
    expect(edge.logs.find((l) => l.msg === 'supplier failed mid-answer')?.fields?.error).toMatch(/could not be translated \(TypeError\)/);
    expect(edge.logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('ends a Responses answer holding tool_calls [null] with a failed response object, and one usage event', async () => {
    const { edge, key, model } = await scenario();
    const answer = chatAnswer({ choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [null] }, finish_reason: 'tool_calls' }] });
    edge.supplier.script(model.routes[0]!, inPieces(answer).reply);

    const response = await edge.send('/v1/responses', { key: key.token, body: { model: model.id, input: 'Hi' } });
    const text = await within(response.text(), 2000, 'the answer');
    await edge.settle();

    expect(JSON.parse(text)).toMatchObject({ object: 'response', status: 'failed' });
    expect(edge.events()).toHaveLength(1);
  });

  it('answers the same answer read whole with a 502 in the client\'s format, billed nothing', async () => {
    const { edge, key, model, route } = await claudeScenario();
    edge.supplier.script(route, framed(claudeAnswer([null])));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ error: { code: 'upstream_failed' } });
    await edge.settle();
    expect(edge.events()).toMatchObject([{ status: 502 }]);
  });

  it('passes a Claude answer its metering cannot read to a /v1/messages client as sent, billed an estimate', async () => {
    const { edge, key, model, route } = await claudeScenario();
    const answer = claudeAnswer([null]);
    edge.supplier.script(route, framed(answer), inPieces(answer).reply);
    const send = () =>
      edge.send('/v1/messages', {
        body: { model: model.id, max_tokens: 500, messages: [{ role: 'user', content: 'Hi' }] },
        headers: { 'x-api-key': key.token, 'anthropic-version': '2023-06-01' },
      });

    for (let i = 0; i < 2; i++) {
      const response = await send();
      expect(response.status).toBe(200);
      expect(await within(response.text(), 2000, 'the answer')).toBe(answer);
    }
    await edge.settle();
    expect(edge.events()).toMatchObject([
      { status: 200, estimated: true },
      { status: 200, estimated: true },
    ]);
  });

  it('ends a stream whose translation throws at its end with the error event, and reports the failure once', async () => {
    const supplier = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('a'));
        controller.close();
      },
    });
    const results: MeterResult[] = [];
    const stream = meter(
      supplier,
      {
        chunk: (bytes) => bytes,
        end: () => {
          throw new TypeError("Cannot read properties of null (reading 'type')");
        },
        failure: () => encoder.encode('|failed'),
        result: () => ({ usage: null, outputEstimate: 1 }),
      },
      (r) => void results.push(r),
    );

    expect(await within(new Response(stream).text(), 2000, 'the stream')).toBe('a|failed');
    expect(results).toEqual([expect.objectContaining({ outcome: 'upstream_failed', failure: 'the answer could not be translated (TypeError)' })]);
  });
});
