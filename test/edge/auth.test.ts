// Customer authentication at the edge: which keys get in, and the one 401 every other key gets.
import { describe, expect, it } from 'vitest';
import { generateToken } from '../../shared/api-key.ts';
import { mintKey } from './support/manifest-builder.ts';
import { chatBody, scenario } from './support/scenario.ts';

/** A key of the right shape whose checksum no longer matches (a typo). */
function withBadChecksum(token: string): string {
  const last = token.at(-1)!;
  return token.slice(0, -1) + (last === 'a' ? 'b' : 'a');
}

async function errorOf(response: Response) {
  return ((await response.json()) as { error: Record<string, unknown> }).error;
}

describe('edge authentication', () => {
  it('accepts a key sent as Authorization: Bearer', async () => {
    const { edge, key } = await scenario();

    const response = await edge.send('/v1/models', { headers: { authorization: `Bearer ${key.token}` } });

    expect(response.status).toBe(200);
  });

  it('accepts a key sent as x-api-key', async () => {
    const { edge, key } = await scenario();

    const response = await edge.send('/v1/models', { headers: { 'x-api-key': key.token } });

    expect(response.status).toBe(200);
  });

  it('answers the same 401 for a missing, malformed, unknown, revoked and expired key', async () => {
    const { edge, key, republish } = await scenario();
    const revoked = await mintKey();
    const expiring = await mintKey({ expires_at: edge.clock.nowSeconds() + 60 });
    await republish({ keys: [key, revoked, expiring] });
    expect((await edge.send('/v1/models', { key: revoked.token })).status).toBe(200);
    expect((await edge.send('/v1/models', { key: expiring.token })).status).toBe(200);
    // The control plane revokes one key; the edge picks that up on its next refresh.
    await republish({ keys: [key, expiring] });
    await edge.refreshManifest();
    edge.clock.advance(60_000);

    const denials = {
      missing: await edge.send('/v1/models'),
      malformed: await edge.send('/v1/models', { key: withBadChecksum(key.token) }),
      unknown: await edge.send('/v1/models', { key: generateToken('api_key') }),
      revoked: await edge.send('/v1/models', { key: revoked.token }),
      expired: await edge.send('/v1/models', { key: expiring.token }),
    };

    const expected = {
      message: 'Invalid API key. Check the key you sent, or create a new one.',
      type: 'authentication_error',
      code: 'invalid_api_key',
      param: null,
    };
    for (const [denial, response] of Object.entries(denials)) {
      expect(response.status, denial).toBe(401);
      const { request_id: _requestId, ...rest } = await errorOf(response);
      expect(rest, denial).toEqual(expected);
    }
    // The well-formed key itself still works: the denials above are about the keys, not the edge.
    expect((await edge.send('/v1/models', { key: key.token })).status).toBe(200);
  });

  it('carries x-request-id on a 401, the same id as the body names', async () => {
    const { edge } = await scenario();

    const response = await edge.send('/v1/models', { key: generateToken('api_key') });

    expect(response.status).toBe(401);
    const requestId = response.headers.get('x-request-id');
    expect(requestId).toMatch(/^req_[0-9a-f]{32}$/);
    expect((await errorOf(response)).request_id).toBe(requestId);
  });

  it('refuses a non-Bearer Authorization scheme even when the credential is a valid key', async () => {
    const { edge, key } = await scenario();

    const response = await edge.send('/v1/models', { headers: { authorization: `Basic ${key.token}` } });

    expect(response.status).toBe(401);
  });

  it('sends nothing upstream for a request with an invalid key', async () => {
    const { edge, model } = await scenario();

    const response = await edge.send('/v1/chat/completions', { key: generateToken('api_key'), body: chatBody(model.id) });

    expect(response.status).toBe(401);
    expect(edge.supplier.calls).toHaveLength(0);
  });
});
