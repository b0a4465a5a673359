// The Worker entry as workerd runs it. With the default bindings of wrangler.toml (no signing
// keys, no node key) and with other unusable bindings, the node must refuse politely with a 503
// in the JSON error shape, never crash. Only failing configurations are built here: a working one
// would be cached by the module and would call a real control plane.
import { createExecutionContext, SELF, waitOnExecutionContext } from 'cloudflare:test';
import { exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import worker from '../../edge/index.ts';

const unavailable = {
  error: {
    message: expect.any(String),
    type: 'service_unavailable',
    code: 'manifest_unavailable',
    param: null,
    request_id: null,
  },
};

async function callEntry(env: Record<string, unknown>): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request('http://edge.test/v1/models', { headers: { authorization: 'Bearer taas_x' } }), env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

async function publicKeysBinding(): Promise<string> {
  const { publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return JSON.stringify({ 'kid-1': await exportJWK(publicKey) });
}

describe('edge entry (index.ts)', () => {
  it('answers 503 in the JSON error shape under the default wrangler.toml bindings', async () => {
    const response = await SELF.fetch('http://edge.test/v1/models', { headers: { authorization: 'Bearer taas_x' } });

    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual(unavailable);
  });

  it('answers 503 when the node has manifest keys but no NODE_PRIVATE_KEY', async () => {
    const response = await callEntry({
      EDGE_REGION: 'EU',
      NODE_ID: 'node-test',
      CONTROL_PLANE_URL: 'http://127.0.0.1:1',
      MANIFEST_PUBLIC_KEYS: await publicKeysBinding(),
    });

    expect(response.status).toBe(503);
    expect(await response.json()).toEqual(unavailable);
  });

  const broken: { name: string; env: (keys: string) => Record<string, unknown> }[] = [
    { name: 'NODE_PRIVATE_KEY that is not JSON', env: (keys) => ({ NODE_ID: 'n', CONTROL_PLANE_URL: 'http://127.0.0.1:1', MANIFEST_PUBLIC_KEYS: keys, NODE_PRIVATE_KEY: 'not json' }) },
    { name: 'an unknown EDGE_REGION', env: (keys) => ({ EDGE_REGION: 'MARS', MANIFEST_PUBLIC_KEYS: keys }) },
    { name: 'MANIFEST_PUBLIC_KEYS that is not JSON', env: () => ({ MANIFEST_PUBLIC_KEYS: '{' }) },
    { name: 'no bindings at all', env: () => ({}) },
  ];

  it.each(broken)('answers 503 rather than crashing for $name', async ({ env }) => {
    const response = await callEntry(env(await publicKeysBinding()));

    expect(response.status).toBe(503);
    expect(await response.json()).toEqual(unavailable);
  });

  // Otherwise complete: only the outbox's bound is wrong, or the outbox is missing. With the
  // outbox in its own process the bound is checked there too late (at the first append, with every
  // answer waiting on it), so the edge checks it as well.
  const outboxCases: { name: string; outbox: Record<string, unknown>; reason: string }[] = [
    { name: 'USAGE_OUTBOX_MAX_EVENTS below 100, outbox in its own process', outbox: { USAGE_OUTBOX_SERVICE: { fetch: () => new Response('{}') }, USAGE_OUTBOX_MAX_EVENTS: '5' }, reason: 'USAGE_OUTBOX_MAX_EVENTS' },
    { name: 'USAGE_OUTBOX_MAX_EVENTS not a number, outbox in this process', outbox: { USAGE_OUTBOX: {}, USAGE_OUTBOX_MAX_EVENTS: 'many' }, reason: 'USAGE_OUTBOX_MAX_EVENTS' },
    { name: 'no outbox binding', outbox: {}, reason: 'USAGE_OUTBOX' },
    { name: 'USAGE_DURABLE_BEFORE_END not true, commit or false', outbox: { USAGE_OUTBOX: {}, USAGE_DURABLE_BEFORE_END: 'sometimes' }, reason: 'USAGE_DURABLE_BEFORE_END must be true, commit or false' },
    // "4MB" was NaN, and every comparison with NaN is false: no body limit at all.
    { name: 'MAX_REQUEST_BYTES not a whole number of bytes', outbox: { USAGE_OUTBOX: {}, MAX_REQUEST_BYTES: '4MB' }, reason: 'MAX_REQUEST_BYTES must be a positive whole number of bytes' },
  ];

  it.each(outboxCases)('answers 503 and logs why for $name', async ({ outbox, reason }) => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((line: unknown) => void lines.push(String(line)));
    try {
      const response = await callEntry({
        NODE_ID: 'node-test',
        CONTROL_PLANE_URL: 'http://127.0.0.1:1',
        MANIFEST_PUBLIC_KEYS: await publicKeysBinding(),
        NODE_PRIVATE_KEY: JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'node-test' }),
        ...outbox,
      });
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual(unavailable);
    } finally {
      spy.mockRestore();
    }
    expect(lines.some((line) => line.includes('edge configuration is unusable') && line.includes(reason))).toBe(true);
  });
});
