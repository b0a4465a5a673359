// Browsers calling the API directly: a preflight answered before the gate (no key, no supplier,
// no usage row), and answers a page may read, errors included; nothing added for callers that
// send no Origin.
import { describe, expect, it } from 'vitest';
import { completion } from './support/fake-supplier.ts';
import { chatBody, scenario } from './support/scenario.ts';

const ORIGIN = { origin: 'https://app.example' };

describe('browser access (CORS)', () => {
  it('answers a preflight with 204 and what the page asked for, before any key check', async () => {
    const { edge } = await scenario();
    const response = await edge.send('/v1/chat/completions', {
      method: 'OPTIONS',
      headers: { ...ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, x-stainless-os' },
    });

    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-allow-methods')).toContain('POST');
    expect(response.headers.get('access-control-allow-headers')).toBe('authorization, content-type, x-stainless-os');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    await edge.settle();
    expect(edge.supplier.calls).toHaveLength(0);
    expect(edge.events()).toHaveLength(0);
  });

  it('lets a page read an answer and its request id, and a refusal too', async () => {
    const { edge, key, model } = await scenario();
    edge.supplier.script(model.routes[0]!, completion({ content: 'hi' }));

    const answer = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id), headers: ORIGIN });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('access-control-allow-origin')).toBe('*');
    expect(answer.headers.get('access-control-expose-headers')).toContain('x-request-id');
    await answer.text();

    const refused = await edge.send('/v1/chat/completions', { key: 'taas_wrong', body: chatBody(model.id), headers: ORIGIN });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('adds nothing for a caller that sends no Origin', async () => {
    const { edge, key, model } = await scenario();
    edge.supplier.script(model.routes[0]!, completion({ content: 'hi' }));
    const answer = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    await answer.text();
    const preflightWithoutOrigin = await edge.send('/v1/chat/completions', { method: 'OPTIONS' });
    expect(preflightWithoutOrigin.status).not.toBe(204);
  });
});
