// Forwarding a chat request: what the supplier receives, what the client gets back, and failover
// before the first byte across the routes the key may use, in priority order.
import { describe, expect, it } from 'vitest';
import type { KeyEntry, RouteEntry } from '../../shared/manifest.ts';
import {
  bodyProbe,
  completion,
  hang,
  networkError,
  openAiError,
  stream,
  usageOf,
  type Reply,
} from './support/fake-supplier.ts';
import { buildModel, buildRoute } from './support/manifest-builder.ts';
import { chatBody, scenario } from './support/scenario.ts';
import { sseReader } from './support/sse.ts';
import type { TestEdgeOptions } from './support/test-edge.ts';

interface ErrorShape {
  error: { message: string; type: string; code: string; param: string | null; request_id: string | null };
}

/** Routes of distinct suppliers, best priority first, as the control plane sorts them. */
const priorityRoutes = (count: number): RouteEntry[] => Array.from({ length: count }, (_, i) => buildRoute({ priority: i + 1 }));

/** One model served by these routes. */
async function routedScenario(routes: RouteEntry[], options: { key?: Partial<KeyEntry>; edge?: TestEdgeOptions } = {}) {
  return { ...(await scenario({ ...options, model: buildModel({ routes }) })), routes };
}

describe('edge proxy: what goes upstream and comes back', () => {
  it('passes a non-streaming completion through with x-taas-supplier and x-taas-region of the route used', async () => {
    const route = buildRoute({ supplier_id: 'sup-us-1', region: 'US' });
    const { edge, key, model } = await scenario({ model: buildModel({ routes: [route] }), edge: { region: 'EU' } });
    edge.supplier.script(route, completion({ content: 'The sea is wide.', usage: usageOf(12, 5) }));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });

    expect(response.status).toBe(200);
    expect(response.headers.get('x-taas-supplier')).toBe('sup-us-1');
    expect(response.headers.get('x-taas-region')).toBe('US');
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toMatchObject({
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: 'The sea is wide.' }, finish_reason: 'stop' }],
      usage: usageOf(12, 5),
    });
  });

  it('sends the upstream model name and the supplier key as Bearer, never the client key, and passes other fields through', async () => {
    const route = buildRoute({ upstream_model: 'vendor/model-2025-01', base_url: 'https://api.vendor.test/v1/' });
    const { edge, key, model } = await scenario({
      model: buildModel({ routes: [route] }),
      edge: { supplierKeys: { [route.supplier_id]: 'sk-supplier-secret' } },
    });
    edge.supplier.script(route, completion({ content: 'ok' }));

    await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id, { temperature: 0.3, seed: 7 }) });

    expect(edge.supplier.calls).toHaveLength(1);
    const call = edge.supplier.calls[0]!;
    expect(call.method).toBe('POST');
    expect(call.url).toBe('https://api.vendor.test/v1/chat/completions');
    expect(call.headers.get('authorization')).toBe('Bearer sk-supplier-secret');
    expect(call.headers.get('authorization')).not.toContain(key.token);
    expect(call.headers.get('x-api-key')).toBeNull();
    expect(call.body).toEqual({
      model: 'vendor/model-2025-01',
      messages: [{ role: 'user', content: 'Hello there.' }],
      temperature: 0.3,
      seed: 7,
    });
  });

  it('asks the supplier for usage on a stream even when the client did not', async () => {
    const { edge, key, model } = await scenario();
    edge.supplier.script(model.routes[0]!, stream({ contents: ['a'] }));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id, { stream: true }) });
    await sseReader(response).rest();

    expect(edge.supplier.calls[0]!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(edge.supplier.calls[0]!.headers.get('accept')).toBe('text/event-stream');
  });
});

describe('edge proxy: failover before the first byte', () => {
  const faults: { name: string; reply: () => Reply }[] = [
    { name: 'a network error', reply: () => networkError() },
    { name: 'a 429', reply: () => openAiError(429, 'Rate limit reached') },
    { name: 'a 500', reply: () => openAiError(500, 'Internal server error') },
    { name: 'a 503', reply: () => openAiError(503, 'Overloaded') },
    // Our credential for that supplier is wrong: the client's request is not at fault.
    { name: 'a 401', reply: () => openAiError(401, 'Incorrect API key provided') },
  ];

  it.each(faults)('fails over to the next route by priority on $name', async ({ reply }) => {
    const { edge, key, model, routes } = await routedScenario(priorityRoutes(2));
    const [first, second] = routes as [RouteEntry, RouteEntry];
    edge.supplier.script(first, reply());
    edge.supplier.script(second, completion({ content: 'from the second route' }));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });

    expect(response.status).toBe(200);
    expect(response.headers.get('x-taas-supplier')).toBe(second.supplier_id);
    expect(edge.supplier.calls.map((c) => c.body.model)).toEqual([first.upstream_model, second.upstream_model]);
    expect(((await response.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe('from the second route');
  });

  it('cancels the body of a supplier response it discards', async () => {
    const { edge, key, model, routes } = await routedScenario(priorityRoutes(2));
    const probe = bodyProbe();
    edge.supplier.script(routes[0]!, openAiError(429, 'Rate limit reached', probe));
    edge.supplier.script(routes[1]!, completion({ content: 'ok' }));

    await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });

    expect(probe.cancelled).toBe(true);
  });

  it('does not fail over on a 400: the client gets a 400 in our error shape with the supplier\'s message, after one upstream call', async () => {
    const { edge, key, model, routes } = await routedScenario(priorityRoutes(2));
    edge.supplier.script(routes[0]!, openAiError(400, "Invalid value for 'temperature': must be at most 2."));
    edge.supplier.script(routes[1]!, completion({ content: 'should not be asked' }));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id, { temperature: 5 }) });

    expect(response.status).toBe(400);
    const body = (await response.json()) as ErrorShape;
    expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request', request_id: response.headers.get('x-request-id') });
    expect(body.error.message).toContain("Invalid value for 'temperature': must be at most 2.");
    expect(edge.supplier.calls).toHaveLength(1);
    expect(response.headers.get('x-taas-supplier')).toBe(routes[0]!.supplier_id);
  });

  it("gives every client OpenAI's context_length_exceeded code for a prompt beyond the window, whichever supplier said so", async () => {
    const openAi = async () =>
      Response.json({ error: { message: "This model's maximum context length is 128000 tokens.", type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } }, { status: 400 });
    const anthropic = async () => Response.json({ type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 210000 tokens > 200000 maximum' } }, { status: 400 });
    for (const reply of [openAi, anthropic]) {
      const { edge, key, model, routes } = await routedScenario(priorityRoutes(2));
      edge.supplier.script(routes[0]!, reply);
      const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
      expect(response.status).toBe(400);
      const body = (await response.json()) as ErrorShape;
      expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'context_length_exceeded' });
      expect(edge.supplier.calls).toHaveLength(1);
    }
  });

  it('answers 502 upstream_failed when every route fails', async () => {
    const { edge, key, model, routes } = await routedScenario(priorityRoutes(2));
    edge.supplier.script(routes[0]!, openAiError(500, 'boom'));
    edge.supplier.script(routes[1]!, networkError());

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });

    expect(response.status).toBe(502);
    expect(((await response.json()) as ErrorShape).error).toMatchObject({ code: 'upstream_failed', type: 'upstream_error' });
    expect(edge.supplier.calls).toHaveLength(2);
    expect(response.headers.get('x-taas-supplier')).toBe('none');
  });

  it('answers 504 upstream_timeout when every route times out before its first byte', async () => {
    const { edge, key, model, routes } = await routedScenario(priorityRoutes(2), { edge: { upstreamFirstByteTimeoutMs: 15 } });
    edge.supplier.script(routes[0]!, hang());
    edge.supplier.script(routes[1]!, hang());

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });

    expect(response.status).toBe(504);
    expect(((await response.json()) as ErrorShape).error).toMatchObject({ code: 'upstream_timeout', type: 'upstream_error' });
    expect(edge.supplier.calls).toHaveLength(2);
    expect(edge.supplier.calls.every((c) => c.signal?.aborted)).toBe(true);
  });

  it('answers 502, not 504, when only some routes time out', async () => {
    const { edge, key, model, routes } = await routedScenario(priorityRoutes(2), { edge: { upstreamFirstByteTimeoutMs: 15 } });
    edge.supplier.script(routes[0]!, hang());
    edge.supplier.script(routes[1]!, openAiError(503, 'Overloaded'));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });

    expect(response.status).toBe(502);
  });

  it('fails over to the next route when the first does not answer within the first-byte timeout', async () => {
    const { edge, key, model, routes } = await routedScenario(priorityRoutes(2), { edge: { upstreamFirstByteTimeoutMs: 15 } });
    edge.supplier.script(routes[0]!, hang());
    edge.supplier.script(routes[1]!, completion({ content: 'ok' }));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });

    expect(response.status).toBe(200);
    expect(response.headers.get('x-taas-supplier')).toBe(routes[1]!.supplier_id);
  });

  it('tries at most three routes for one request', async () => {
    const { edge, key, model, routes } = await routedScenario(priorityRoutes(4));
    for (const route of routes) edge.supplier.script(route, openAiError(500, 'boom'));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });

    expect(response.status).toBe(502);
    expect(edge.supplier.calls).toHaveLength(3);
    expect(edge.supplier.callsTo(routes[3]!)).toHaveLength(0);
  });

  it('never fails over to a route outside the key\'s allowed regions, even when the allowed one fails', async () => {
    const outside = buildRoute({ region: 'US', priority: 1 });
    const allowed = buildRoute({ region: 'EU', priority: 2 });
    const { edge, key, model } = await routedScenario([outside, allowed], { key: { allowed_regions: ['EU'] } });
    edge.supplier.script(outside, completion({ content: 'must not be used' }));
    edge.supplier.script(allowed, openAiError(500, 'boom'));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });

    expect(response.status).toBe(502);
    expect(edge.supplier.callsTo(allowed)).toHaveLength(1);
    expect(edge.supplier.callsTo(outside)).toHaveLength(0);
  });

  it('never fails over to a supplier outside the key\'s allowed suppliers, even when the allowed one fails', async () => {
    const outside = buildRoute({ priority: 1 });
    const allowed = buildRoute({ priority: 2 });
    const { edge, key, model } = await routedScenario([outside, allowed], { key: { allowed_suppliers: [allowed.supplier_id] } });
    edge.supplier.script(outside, completion({ content: 'must not be used' }));
    edge.supplier.script(allowed, networkError());

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });

    expect(response.status).toBe(502);
    expect(edge.supplier.callsTo(allowed)).toHaveLength(1);
    expect(edge.supplier.callsTo(outside)).toHaveLength(0);
  });

  it('reaches an Anthropic-format route through translation, and fails over from it to an OpenAI-format route', async () => {
    const anthropic = buildRoute({ format: 'anthropic', priority: 1 });
    const openai = buildRoute({ priority: 2 });
    const { edge, key, model } = await routedScenario([anthropic, openai]);
    edge.supplier.script(anthropic, openAiError(529, 'Overloaded'));
    edge.supplier.script(openai, completion({ content: 'ok' }));
    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-taas-supplier')).toBe(openai.supplier_id);
    expect(edge.supplier.callsTo(anthropic).map((c) => c.url)).toEqual([`${anthropic.base_url}/messages`]);
    expect(edge.supplier.callsTo(openai).map((c) => c.url)).toEqual([`${openai.base_url}/chat/completions`]);
  });
});
