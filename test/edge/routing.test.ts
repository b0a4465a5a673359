// Routing beyond plain failover: circuit breakers per supplier endpoint, Retry-After, and session
// stickiness — all inside the key's allowed routes.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../shared/errors.ts';
import { createCircuitBreaker, endpointOf, retryAfterMs } from '../../edge/circuit-breaker.ts';
import { orderRoutes } from '../../edge/route-order.ts';
import { createStickySessions, sessionIdOf } from '../../edge/stickiness.ts';
import { completion, openAiError } from './support/fake-supplier.ts';
import { buildModel, buildRoute } from './support/manifest-builder.ts';
import { chatBody, scenario } from './support/scenario.ts';

describe('circuit breaker', () => {
  it('opens after three consecutive faults, lets traffic try after the cool-down, and reopens for longer on a failed trial', () => {
    let now = 0;
    const breaker = createCircuitBreaker({ nowMs: () => now, coolDownMs: 1000 });
    breaker.failure('a');
    breaker.failure('a');
    expect(breaker.isOpen('a')).toBe(false);
    breaker.failure('a');
    expect(breaker.isOpen('a')).toBe(true);
    now = 1000;
    expect(breaker.isOpen('a')).toBe(false);
    breaker.failure('a');
    expect(breaker.isOpen('a')).toBe(true);
    now = 2999;
    expect(breaker.isOpen('a')).toBe(true);
    now = 3000;
    expect(breaker.isOpen('a')).toBe(false);
    breaker.success('a');
    breaker.failure('a');
    expect(breaker.isOpen('a')).toBe(false);
  });

  it('opens at once for as long as the supplier asked with Retry-After', () => {
    let now = 0;
    const breaker = createCircuitBreaker({ nowMs: () => now });
    breaker.failure('b', 5000);
    expect(breaker.isOpen('b')).toBe(true);
    now = 4999;
    expect(breaker.isOpen('b')).toBe(true);
    now = 5000;
    expect(breaker.isOpen('b')).toBe(false);
  });

  it('reads Retry-After as seconds or as an HTTP date, and ignores garbage', () => {
    expect(retryAfterMs('7', 0)).toBe(7000);
    expect(retryAfterMs(new Date(60_000).toUTCString(), 0)).toBe(60_000);
    expect(retryAfterMs('soon', 0)).toBeUndefined();
    expect(retryAfterMs(null, 0)).toBeUndefined();
  });
});

describe('route order', () => {
  const [p1, p2, p3] = [buildRoute({ priority: 1 }), buildRoute({ priority: 2 }), buildRoute({ priority: 3 })];

  it('puts the sticky route first, then priority, and open endpoints last', () => {
    const open = new Set([endpointOf(p1)]);
    expect(orderRoutes([p3, p1, p2], { isOpen: (e) => open.has(e) })).toEqual([p2, p3, p1]);
    expect(orderRoutes([p1, p2, p3], { isOpen: () => false, sticky: endpointOf(p3) })).toEqual([p3, p1, p2]);
    // A sticky route whose breaker is open is not preferred.
    expect(orderRoutes([p1, p2, p3], { isOpen: (e) => e === endpointOf(p3), sticky: endpointOf(p3) })).toEqual([p1, p2, p3]);
  });
});

describe('session ids', () => {
  const headers = (h: Record<string, string> = {}) => new Headers(h);

  it('takes X-Session-Id, then metadata.session_id, then metadata.sticky_key', () => {
    expect(sessionIdOf(headers({ 'x-session-id': 'h' }), { session_id: 's', sticky_key: 'k' })).toBe('h');
    expect(sessionIdOf(headers(), { session_id: 's', sticky_key: 'k' })).toBe('s');
    expect(sessionIdOf(headers(), { sticky_key: 'k' })).toBe('k');
    expect(sessionIdOf(headers(), undefined)).toBeNull();
  });

  it('refuses ids that are too long, hold control characters or are not strings, naming the field', () => {
    for (const [h, metadata, param] of [
      [{ 'x-session-id': 'x'.repeat(257) }, undefined, 'X-Session-Id'],
      [{}, { session_id: 'a\u0000b' }, 'metadata.session_id'],
      [{}, { sticky_key: 42 }, 'metadata.sticky_key'],
      [{}, { session_id: '' }, 'metadata.session_id'],
    ] as const) {
      try {
        sessionIdOf(headers(h as Record<string, string>), metadata);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(ApiError);
        expect((err as ApiError).param).toBe(param);
        expect((err as ApiError).status).toBe(400);
      }
    }
  });

  it('forgets the least recently used session beyond its bound, and expired ones', () => {
    let now = 0;
    const sessions = createStickySessions({ nowMs: () => now, maxEntries: 2, ttlMs: 100 });
    sessions.set('a', 'A');
    sessions.set('b', 'B');
    sessions.get('a');
    sessions.set('a', 'A');
    sessions.set('c', 'C');
    expect([sessions.get('a'), sessions.get('b'), sessions.get('c')]).toEqual(['A', undefined, 'C']);
    now = 101;
    expect(sessions.get('c')).toBeUndefined();
  });
});

describe('routing through the edge', () => {
  const twoRoutes = async () => {
    const [p1, p2] = [buildRoute({ priority: 1 }), buildRoute({ priority: 2 })];
    const s = await scenario({ model: buildModel({ routes: [p1, p2] }) });
    return { ...s, p1, p2 };
  };

  it('keeps a session on the route it moved to after a failure, while others follow priority', async () => {
    const { edge, key, model, p1, p2 } = await twoRoutes();
    edge.supplier.script(p1, openAiError(500, 'down'), completion({ content: 'ok' }));
    edge.supplier.script(p2, completion({ content: 'ok' }));
    const send = (session?: string) =>
      edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id), ...(session ? { headers: { authorization: `Bearer ${key.token}`, 'x-session-id': session } } : {}) });

    expect((await send('conv-1')).headers.get('x-taas-supplier')).toBe(p2.supplier_id);
    // p1 is healthy again: a new request goes there, the session stays on p2 (warm cache).
    expect((await send()).headers.get('x-taas-supplier')).toBe(p1.supplier_id);
    expect((await send('conv-1')).headers.get('x-taas-supplier')).toBe(p2.supplier_id);
    const viaMetadata = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id, { metadata: { session_id: 'conv-1' } }) });
    expect(viaMetadata.headers.get('x-taas-supplier')).toBe(p2.supplier_id);
    // The gateway's keys are its own: OpenAI refuses metadata without store (edge/providers/openai.ts).
    expect(edge.supplier.callsTo(p2).at(-1)!.body).not.toHaveProperty('metadata');
  });

  it('stops sending to an endpoint whose breaker opened, and tries it again after the cool-down', async () => {
    const { edge, key, model, p1, p2 } = await twoRoutes();
    edge.supplier.script(p1, openAiError(503, 'overloaded'));
    edge.supplier.script(p2, completion({ content: 'ok' }));
    for (let i = 0; i < 3; i++) await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    expect(edge.supplier.callsTo(p1)).toHaveLength(3);
    await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    expect(edge.supplier.callsTo(p1)).toHaveLength(3);
    edge.clock.advance(31_000);
    await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    expect(edge.supplier.callsTo(p1)).toHaveLength(4);
  });

  it("respects a supplier's Retry-After before trying it again", async () => {
    const { edge, key, model, p1, p2 } = await twoRoutes();
    edge.supplier.script(p1, async () => new Response('{"error":{"message":"slow down"}}', { status: 429, headers: { 'retry-after': '10' } }), completion({ content: 'ok' }));
    edge.supplier.script(p2, completion({ content: 'ok' }));
    await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    expect(edge.supplier.callsTo(p1)).toHaveLength(1);
    edge.clock.advance(10_000);
    const back = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    expect(back.headers.get('x-taas-supplier')).toBe(p1.supplier_id);
  });

  it('tells the client the shortest Retry-After when every supplier asked to wait, and none otherwise', async () => {
    const { edge, key, model, p1, p2 } = await twoRoutes();
    const throttled = (seconds: string) => async () => new Response('{"error":{"message":"slow down"}}', { status: 429, headers: { 'retry-after': seconds } });
    edge.supplier.script(p1, throttled('10'));
    edge.supplier.script(p2, throttled('4'));
    const waited = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    expect(waited.status).toBe(502);
    expect(waited.headers.get('retry-after')).toBe('4');

    const other = await twoRoutes();
    other.edge.supplier.script(other.p1, throttled('10'));
    other.edge.supplier.script(other.p2, openAiError(500, 'down'));
    const failed = await other.edge.send('/v1/chat/completions', { key: other.key.token, body: chatBody(other.model.id) });
    expect(failed.status).toBe(502);
    expect(failed.headers.get('retry-after')).toBeNull();
  });

  it('never lets stickiness reach a route outside the key policy', async () => {
    const [eu, us] = [buildRoute({ priority: 2, region: 'EU' }), buildRoute({ priority: 1, region: 'US' })];
    const { edge, key, model } = await scenario({ model: buildModel({ routes: [eu, us] }), key: { allowed_regions: ['EU'] } });
    edge.supplier.script(eu, completion({ content: 'ok' }));
    edge.supplier.script(us, completion({ content: 'ok' }));
    const res = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id, { metadata: { sticky_key: 'anything' } }) });
    expect(res.headers.get('x-taas-supplier')).toBe(eu.supplier_id);
    expect(edge.supplier.callsTo(us)).toHaveLength(0);
  });

  it('answers an invalid session id with a 400 and no supplier call', async () => {
    const { edge, key, model } = await twoRoutes();
    const res = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id, { metadata: { session_id: 'x'.repeat(300) } }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe('metadata.session_id');
    expect(edge.supplier.calls).toHaveLength(0);
    // Refused before admission: no allowance was asked for, so it used none of the key's RPM.
    expect(edge.grants.calls).toHaveLength(0);
  });
});
