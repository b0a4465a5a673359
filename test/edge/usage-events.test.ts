// Usage events leaving the edge: exactly one per authenticated chat request, with the supplier's
// counts (or an estimate, flagged), the status of denials, nothing for a 401, and never any text.
import { describe, expect, it } from 'vitest';
import { generateToken } from '../../shared/api-key.ts';
import { MAX_EVENT_COUNT, UsageBatch, UsageEvent } from '../../shared/usage.ts';
import { deferred } from './support/deferred.ts';
import { completion, networkError, openAiError, stream, usageOf } from './support/fake-supplier.ts';
import { buildModel, buildRoute } from './support/manifest-builder.ts';
import { chatBody, scenario } from './support/scenario.ts';
import { sseReader } from './support/sse.ts';

describe('edge usage events', () => {
  it('records exactly one event for a chat request, with the supplier\'s token counts and estimated=false', async () => {
    const route = buildRoute({ region: 'US' });
    const { edge, key, model } = await scenario({ model: buildModel({ routes: [route] }) });
    edge.supplier.script(route, completion({ content: 'ok', usage: usageOf(123, 45) }));
    const startedAt = new Date(edge.clock.nowMs()).toISOString();

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    await response.text();
    await edge.settle();

    expect(edge.events()).toHaveLength(1);
    expect(edge.pendingEvents()).toBe(0);
    const event = UsageEvent.parse(edge.events()[0]);
    expect(event).toEqual({
      id: expect.any(String),
      request_id: response.headers.get('x-request-id'),
      key_id: key.entry.id,
      org_id: key.entry.org_id,
      user_id: key.entry.owner_id,
      model: model.id,
      supplier_id: route.supplier_id,
      region: 'US',
      endpoint: '/v1/chat/completions',
      status: 200,
      input_tokens: 123,
      output_tokens: 45,
      cached_input_tokens: 0,
      cache_write_tokens: 0,
      reasoning_tokens: 0,
      estimated: false,
      audio_seconds: 0,
      started_at: startedAt,
      latency_ms: 0,
      // The org wallet's lease this request was admitted under.
      lease_ids: [expect.stringMatching(/^[0-9a-f-]{36}$/)],
    });
  });

  it('clamps a supplier\'s report beyond what usage can store, flags it estimated and logs it, so the event is never refused', async () => {
    const { edge, key, model } = await scenario();
    edge.supplier.script(model.routes[0]!, completion({ content: 'ok', usage: usageOf(3_000_000_000, 45) }));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    await response.text();
    await edge.settle();

    const event = UsageEvent.parse(edge.events()[0]);
    expect(event).toMatchObject({ input_tokens: MAX_EVENT_COUNT, output_tokens: 45, estimated: true });
    expect(edge.logs).toContainEqual(expect.objectContaining({ level: 'error', msg: expect.stringContaining('clamped') }));
    // The control plane's schema refuses the unclamped count (a 422 the outbox isolates, never a 500).
    expect(UsageEvent.safeParse({ ...event, input_tokens: MAX_EVENT_COUNT + 1 }).success).toBe(false);
  });

  it('records the supplier\'s counts of a stream once the stream has ended', async () => {
    const { edge, key, model } = await scenario();
    edge.supplier.script(model.routes[0]!, stream({ contents: ['a', 'b'], usage: usageOf(30, 2) }));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id, { stream: true }) });
    await sseReader(response).rest();
    await edge.settle();

    expect(edge.events()).toHaveLength(1);
    expect(edge.events()[0]).toMatchObject({ status: 200, input_tokens: 30, output_tokens: 2, estimated: false });
  });

  it('delivers usage through waitUntil, in batches the control plane accepts', async () => {
    const { edge, key, model } = await scenario();
    edge.supplier.script(model.routes[0]!, completion({ content: 'ok' }));

    for (let i = 0; i < 3; i++) await (await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) })).text();
    await edge.settle();

    expect(edge.events()).toHaveLength(3);
    expect(new Set(edge.events().map((e) => e.id)).size).toBe(3);
    expect(new Set(edge.events().map((e) => e.request_id)).size).toBe(3);
    for (const events of edge.deliveredBatches) expect(() => UsageBatch.parse({ events })).not.toThrow();
  });

  it('records the event of the route that answered after a failover', async () => {
    const first = buildRoute({ priority: 1 });
    const second = buildRoute({ priority: 2, region: 'APAC' });
    const { edge, key, model } = await scenario({ model: buildModel({ routes: [first, second] }) });
    edge.supplier.script(first, networkError());
    edge.supplier.script(second, completion({ content: 'ok', usage: usageOf(5, 6) }));

    await (await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) })).text();
    await edge.settle();

    expect(edge.events()).toHaveLength(1);
    expect(edge.events()[0]).toMatchObject({ supplier_id: second.supplier_id, region: 'APAC', input_tokens: 5, output_tokens: 6 });
  });

  it('estimates nonzero counts of a stream, with estimated=true, when the supplier reports no usage', async () => {
    const { edge, key, model } = await scenario();
    edge.supplier.script(model.routes[0]!, stream({ contents: ['one', 'two', 'three'], usage: null }));

    await sseReader(await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id, { stream: true }) })).rest();
    await edge.settle();

    expect(edge.events()).toHaveLength(1);
    const event = edge.events()[0]!;
    expect(event.estimated).toBe(true);
    expect(event.input_tokens).toBeGreaterThan(0);
    expect(event.output_tokens).toBeGreaterThan(0);
  });

  it('estimates nonzero counts of a non-streaming answer, with estimated=true, when the supplier reports no usage', async () => {
    const { edge, key, model } = await scenario();
    const answer = 'A fairly long answer of several words that a supplier produced without a usage report.';
    edge.supplier.script(model.routes[0]!, completion({ content: answer, usage: null }));

    await (await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) })).text();
    await edge.settle();

    expect(edge.events()).toHaveLength(1);
    const event = edge.events()[0]!;
    expect(event.estimated).toBe(true);
    expect(event.input_tokens).toBeGreaterThan(0);
    // The answer is in hand: billing it as zero output tokens would give the completion away.
    expect(event.output_tokens).toBeGreaterThan(0);
  });

  const denied: { name: string; status: number; body: (modelId: string) => unknown; keyRestriction?: { allowed_models: string[] } }[] = [
    { name: 'a model outside allowed_models (403)', status: 403, body: (id) => chatBody(id), keyRestriction: { allowed_models: ['another-model'] } },
    { name: 'an unknown model (404)', status: 404, body: () => chatBody('no-such-model') },
    { name: 'an invalid body (422)', status: 422, body: (id) => ({ model: id, messages: [] }) },
  ];

  it.each(denied)('records the status of a request denied for $name, with zero tokens', async ({ status, body, keyRestriction }) => {
    const { edge, key, model } = await scenario(keyRestriction ? { key: keyRestriction } : {});
    edge.supplier.script(model.routes[0]!, completion({ content: 'never sent' }));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id) });
    await response.text();
    await edge.settle();

    expect(response.status).toBe(status);
    expect(edge.events()).toHaveLength(1);
    expect(edge.events()[0]).toMatchObject({ status, input_tokens: 0, output_tokens: 0, supplier_id: null, key_id: key.entry.id });
  });

  it('records 502 and no supplier when every route failed', async () => {
    const { edge, key, model } = await scenario();
    edge.supplier.script(model.routes[0]!, openAiError(500, 'boom'));

    await (await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) })).text();
    await edge.settle();

    expect(edge.events()).toHaveLength(1);
    expect(edge.events()[0]).toMatchObject({ status: 502, input_tokens: 0, output_tokens: 0 });
  });

  it('records no event at all for a 401', async () => {
    const { edge, model } = await scenario();
    edge.supplier.script(model.routes[0]!, completion({ content: 'never sent' }));

    const response = await edge.send('/v1/chat/completions', { key: generateToken('api_key'), body: chatBody(model.id) });
    await response.text();
    await edge.settle();

    expect(response.status).toBe(401);
    expect(edge.events()).toEqual([]);
    expect(edge.pendingEvents()).toBe(0);
  });

  it('puts no prompt or completion text in usage events', async () => {
    const promptMarker = `prompt-marker-${crypto.randomUUID()}`;
    const completionMarker = `completion-marker-${crypto.randomUUID()}`;
    const [plain, streamed] = [buildRoute({ priority: 1 }), buildRoute({ priority: 1 })];
    const plainModel = buildModel({ routes: [plain] });
    const streamedModel = buildModel({ routes: [streamed] });
    const { edge, key } = await scenario({ model: plainModel, extraModels: [streamedModel] });
    edge.supplier.script(plain, completion({ content: `Here: ${completionMarker}` }));
    edge.supplier.script(streamed, stream({ contents: ['Here: ', completionMarker] }));
    const messages = [{ role: 'user', content: `Repeat ${promptMarker}` }];

    const plainResponse = await edge.send('/v1/chat/completions', { key: key.token, body: { model: plainModel.id, messages } });
    expect(await plainResponse.text()).toContain(completionMarker);
    const streamedResponse = await edge.send('/v1/chat/completions', {
      key: key.token,
      body: { model: streamedModel.id, messages, stream: true },
    });
    expect((await sseReader(streamedResponse).rest()).join('')).toContain(completionMarker);
    await edge.settle();

    expect(edge.events()).toHaveLength(2);
    const delivered = JSON.stringify(edge.deliveredBatches);
    expect(delivered).not.toContain(promptMarker);
    expect(delivered).not.toContain(completionMarker);
  });
});

describe('answers wait for their usage event to be stored', () => {
  async function readWithin(body: Response | Promise<string>, ms: number): Promise<'done' | 'waiting'> {
    const text = body instanceof Response ? body.text() : body;
    return Promise.race([text.then(() => 'done' as const), new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), ms))]);
  }

  it('holds the last bytes of an answer until the outbox has stored its event, and not its first', async () => {
    const storeGate = deferred();
    const { edge, key, model } = await scenario({ edge: { storeGate } });
    edge.supplier.script(model.routes[0]!, stream({ contents: ['a', 'b'], usage: usageOf(3, 2) }));
    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id, { stream: true }) });
    expect(response.status).toBe(200);
    const reading = response.text();
    const early = await Promise.race([reading.then(() => 'done'), new Promise((r) => setTimeout(() => r('waiting'), 100))]);
    expect(early).toBe('waiting');
    storeGate.resolve();
    expect(await reading).toContain('data: [DONE]');
    await edge.settle();
  });

  it('holds the end of a non-streamed answer until its event is stored', async () => {
    const storeGate = deferred();
    const { edge, key, model } = await scenario({ edge: { storeGate } });
    edge.supplier.script(model.routes[0]!, completion({ content: 'hi', usage: usageOf(3, 2) }));
    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    expect(response.status).toBe(200);
    const reading = response.text();
    expect(await readWithin(reading, 100)).toBe('waiting');
    storeGate.resolve();
    expect(JSON.parse(await reading)).toMatchObject({ usage: { prompt_tokens: 3, completion_tokens: 2 } });
    await edge.settle();
  });

  it('holds the end of an error answer until its event is stored', async () => {
    const storeGate = deferred();
    const { edge, key, model } = await scenario({ edge: { storeGate } });
    edge.supplier.script(model.routes[0]!, openAiError(500, 'boom'));
    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    expect(response.status).toBe(502);
    const reading = response.text();
    expect(await readWithin(reading, 100)).toBe('waiting');
    storeGate.resolve();
    expect(await reading).toContain('upstream_failed');
    await edge.settle();
  });

  it('ends the answer at once when durableAnswers is off', async () => {
    const storeGate = deferred();
    const { edge, key, model } = await scenario({ edge: { storeGate, durableAnswers: false } });
    edge.supplier.script(model.routes[0]!, completion({ content: 'hi', usage: usageOf(3, 2) }));
    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    expect(await readWithin(response, 1_000)).toBe('done');
    storeGate.resolve();
    await edge.settle();
  });
});
