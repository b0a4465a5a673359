// Non-streamed JSON answers that declare their length (as suppliers over HTTP do) are read whole
// and answered as bytes (edge/meter-json.ts): the same answer and the same metering as the
// streamed path, the same wait for the usage event, and a supplier failing mid-answer is a 502 in
// the client's format rather than a cut body. Answers without a declared length, or encoded, keep
// the streamed path (the rest of the suite's fake supplier sends none).
import { describe, expect, it } from 'vitest';
import { anthropicMessage } from './support/anthropic-replies.ts';
import { deferred } from './support/deferred.ts';
import { completion, usageOf, type Reply } from './support/fake-supplier.ts';
import { buildModel, buildRoute } from './support/manifest-builder.ts';
import { chatBody, scenario } from './support/scenario.ts';

/** The reply as an HTTP supplier sends it: with its length declared. */
function framed(reply: Reply): Reply {
  return async (call) => {
    const response = await reply(call);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const headers = new Headers(response.headers);
    headers.set('content-length', String(bytes.byteLength));
    return new Response(bytes, { status: response.status, headers });
  };
}

/** A 200 that declares `declared` bytes, sends a few, then fails. */
function cutOff(headers: Record<string, string> = {}): Reply {
  return async () => {
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) return controller.error(new Error('connection reset'));
        sent = true;
        controller.enqueue(new TextEncoder().encode('{"id":"chatcmpl-1","choices":[{"mess'));
      },
    });
    return new Response(body, { status: 200, headers: { 'content-type': 'application/json', 'content-length': '400', ...headers } });
  };
}

describe('JSON answers of declared length', () => {
  it('passes the answer through byte for byte and meters its usage', async () => {
    const { edge, key, model } = await scenario();
    let sent = '';
    edge.supplier.script(
      model.routes[0]!,
      framed(async (call) => {
        const response = await completion({ content: 'Hello.', usage: usageOf(12, 3) })(call);
        sent = await response.text();
        return new Response(sent, { headers: response.headers });
      }),
    );

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.text()).toBe(sent);
    await edge.settle();
    expect(edge.events()).toHaveLength(1);
    expect(edge.events()[0]).toMatchObject({ status: 200, input_tokens: 12, output_tokens: 3, estimated: false });
  });

  it('translates a Claude answer for the chat surface', async () => {
    const route = buildRoute({ format: 'anthropic' });
    const { edge, key, model } = await scenario({ model: buildModel({ routes: [route] }) });
    edge.supplier.script(route, framed(anthropicMessage({ content: [{ type: 'text', text: 'Hi' }], usage: { input_tokens: 5, output_tokens: 1 } })));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      object: 'chat.completion',
      model: model.id,
      choices: [{ message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 5, completion_tokens: 1 },
    });
    await edge.settle();
    expect(edge.events()[0]).toMatchObject({ status: 200, input_tokens: 5, output_tokens: 1 });
  });

  it('gives the answer only once its usage event is stored', async () => {
    const storeGate = deferred();
    const { edge, key, model } = await scenario({ edge: { storeGate } });
    edge.supplier.script(model.routes[0]!, framed(completion({ content: 'hi', usage: usageOf(3, 2) })));

    const sending = edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) }).then((r) => r.text());
    expect(await Promise.race([sending.then(() => 'done'), new Promise((r) => setTimeout(() => r('waiting'), 100))])).toBe('waiting');
    storeGate.resolve();
    expect(JSON.parse(await sending)).toMatchObject({ usage: { prompt_tokens: 3, completion_tokens: 2 } });
    await edge.settle();
  });

  it('answers a supplier that fails mid-answer with a 502 in the OpenAI format, billed as an estimate', async () => {
    const { edge, key, model } = await scenario();
    edge.supplier.script(model.routes[0]!, cutOff());

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ error: { code: 'upstream_failed' } });
    expect(response.headers.get('x-taas-supplier')).toBe(model.routes[0]!.supplier_id);
    await edge.settle();
    expect(edge.events()).toHaveLength(1);
    expect(edge.events()[0]).toMatchObject({ status: 502, estimated: true, output_tokens: 0 });
    expect(edge.events()[0]!.input_tokens).toBeGreaterThan(0);
    // The operator learns why, from the runtime's message; what was read stays out of the log.
    const line = edge.logs.find((l) => l.msg === 'supplier failed mid-answer');
    expect(line?.fields).toMatchObject({ supplier: model.routes[0]!.supplier_id, error: expect.stringContaining('connection reset') });
    expect(JSON.stringify(edge.logs)).not.toContain('chatcmpl-1');
  });

  it('answers a Claude supplier that fails mid-answer with a 502 in the Anthropic format', async () => {
    const route = buildRoute({ format: 'anthropic' });
    const { edge, key, model } = await scenario({ model: buildModel({ routes: [route] }) });
    edge.supplier.script(route, cutOff());

    const response = await edge.send('/v1/messages', { key: key.token, body: { model: model.id, max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] } });
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'api_error' } });
  });

  it('streams an encoded answer, whose decoded size its declared length does not bound', async () => {
    const { edge, key, model } = await scenario();
    edge.supplier.script(model.routes[0]!, cutOff({ 'content-encoding': 'gzip' }));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    // Streamed: the status line went before the failure, so the body is what was cut off.
    expect(response.status).toBe(200);
    await response.text().catch(() => '');
    await edge.settle();
    expect(edge.events()[0]).toMatchObject({ status: 200, estimated: true });
  });
});
