// The edge's manifest store, seen through requests: when a request waits for the control plane,
// which manifests it refuses, and that it fails closed rather than serving a stale key list.
import { base64url } from 'jose';
import { describe, expect, it } from 'vitest';
import { buildManifest, createSigner, mintKey, sign, type MintedKey } from './support/manifest-builder.ts';
import { deferred, within } from './support/deferred.ts';
import { chatBody, scenario } from './support/scenario.ts';
import { createTestEdge, type TestEdge } from './support/test-edge.ts';

const tick = (ms = 10) => new Promise((resolve) => setTimeout(resolve, ms));

async function publishVersion(edge: TestEdge, version: number, keys: MintedKey[]) {
  await edge.publish(buildManifest({ version, nowSeconds: edge.clock.nowSeconds(), keys }));
}

/** Re-encodes a JWS payload while keeping the original signature. */
function tamper(jws: string, edit: (payload: Record<string, unknown>) => void): string {
  const [header, payload, signature] = jws.split('.') as [string, string, string];
  const decoded = JSON.parse(new TextDecoder().decode(base64url.decode(payload))) as Record<string, unknown>;
  edit(decoded);
  const reencoded = base64url.encode(JSON.stringify(decoded));
  return `${header}.${reencoded}.${signature}`;
}

describe('edge manifest store', () => {
  it('makes the first request wait for the first manifest fetch', async () => {
    const { edge, key } = await scenario();
    const gate = deferred();
    edge.controlPlane.holdUntil(gate);

    let answered = false;
    const pending = edge.send('/v1/models', { key: key.token }).then((response) => {
      answered = true;
      return response;
    });
    await tick();
    expect(answered).toBe(false);
    expect(edge.controlPlane.fetches).toEqual([null]);

    gate.resolve();
    expect((await pending).status).toBe(200);
  });

  it('shares one fetch among the requests that wait for the first manifest', async () => {
    const { edge, key } = await scenario();
    const gate = deferred();
    edge.controlPlane.holdUntil(gate);

    const first = edge.send('/v1/models', { key: key.token });
    const second = edge.send('/v1/models', { key: key.token });
    await tick();
    gate.resolve();

    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect(edge.controlPlane.fetches).toHaveLength(1);
  });

  it('answers 503 manifest_unavailable, and calls no supplier, when no manifest could be fetched', async () => {
    const { edge, key, model } = await scenario();
    edge.controlPlane.goDown();

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: chatBody(model.id) });

    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      error: {
        message: expect.any(String),
        type: 'service_unavailable',
        code: 'manifest_unavailable',
        param: null,
        request_id: response.headers.get('x-request-id'),
      },
    });
    expect(edge.supplier.calls).toHaveLength(0);
  });

  it('serves again once the control plane answers after a failed first fetch', async () => {
    const { edge, key, republish } = await scenario();
    edge.controlPlane.goDown();
    expect((await edge.send('/v1/models', { key: key.token })).status).toBe(503);

    await republish();

    expect((await edge.send('/v1/models', { key: key.token })).status).toBe(200);
  });

  it('keeps serving the held manifest while refreshes fail, and fails closed from its expires_at', async () => {
    const { edge, key, republish } = await scenario();
    await republish({ ttlSeconds: 60 });
    expect((await edge.send('/v1/models', { key: key.token })).status).toBe(200);
    edge.controlPlane.goDown();

    edge.clock.advance(59_000);
    expect((await edge.send('/v1/models', { key: key.token })).status).toBe(200);
    edge.clock.advance(1_000);
    const expired = await edge.send('/v1/models', { key: key.token });

    expect(expired.status).toBe(503);
    expect(((await expired.json()) as { error: { code: string } }).error.code).toBe('manifest_unavailable');
  });

  it('refuses a manifest of a lower version and keeps serving the higher one', async () => {
    const edge = await createTestEdge();
    const [kept, other] = [await mintKey(), await mintKey()];
    await publishVersion(edge, 5, [kept]);
    expect((await edge.send('/v1/models', { key: kept.token })).status).toBe(200);

    await publishVersion(edge, 4, [other]);
    await edge.refreshManifest();

    expect((await edge.send('/v1/models', { key: kept.token })).status).toBe(200);
    expect((await edge.send('/v1/models', { key: other.token })).status).toBe(401);
  });

  it('refuses a manifest signed by a key it does not trust', async () => {
    const edge = await createTestEdge();
    const key = await mintKey();
    const stranger = await createSigner();
    edge.controlPlane.publish(await sign(buildManifest({ version: 1, nowSeconds: edge.clock.nowSeconds(), keys: [key] }), stranger));

    expect((await edge.send('/v1/models', { key: key.token })).status).toBe(503);
  });

  it('keeps the held manifest when a newer one is signed by an untrusted key', async () => {
    const edge = await createTestEdge();
    const [held, planted] = [await mintKey(), await mintKey()];
    await publishVersion(edge, 1, [held]);
    expect((await edge.send('/v1/models', { key: held.token })).status).toBe(200);

    const stranger = await createSigner();
    edge.controlPlane.publish(await sign(buildManifest({ version: 2, nowSeconds: edge.clock.nowSeconds(), keys: [planted] }), stranger));
    await edge.refreshManifest();

    expect((await edge.send('/v1/models', { key: held.token })).status).toBe(200);
    expect((await edge.send('/v1/models', { key: planted.token })).status).toBe(401);
  });

  it('refuses a tampered manifest whose payload no longer matches its signature', async () => {
    const edge = await createTestEdge();
    const [held, planted] = [await mintKey(), await mintKey()];
    await publishVersion(edge, 1, [held]);
    expect((await edge.send('/v1/models', { key: held.token })).status).toBe(200);

    const genuine = await sign(buildManifest({ version: 2, nowSeconds: edge.clock.nowSeconds(), keys: [held] }), edge.signer);
    edge.controlPlane.publish(
      tamper(genuine, (payload) => {
        (payload.keys as Record<string, unknown>)[planted.hash] = planted.entry;
        (payload.orgs as Record<string, unknown>)[planted.entry.org_id] = { status: 'active' };
      }),
    );
    await edge.refreshManifest();

    expect((await edge.send('/v1/models', { key: planted.token })).status).toBe(401);
    expect((await edge.send('/v1/models', { key: held.token })).status).toBe(200);
  });

  it('refreshes in the background through waitUntil once refreshMs has passed, without making the request wait', async () => {
    const { edge, key } = await scenario({ edge: { refreshMs: 2_000, maxStaleMs: 30_000 } });
    expect((await edge.send('/v1/models', { key: key.token })).status).toBe(200);
    expect(edge.controlPlane.fetches).toHaveLength(1);

    edge.clock.advance(1_999);
    await edge.send('/v1/models', { key: key.token });
    expect(edge.controlPlane.fetches).toHaveLength(1);
    expect(edge.lastContext().waitUntilCount()).toBe(0);

    edge.clock.advance(1);
    const gate = deferred();
    edge.controlPlane.holdUntil(gate);
    const response = await within(edge.send('/v1/models', { key: key.token }), 500, 'answer during a background refresh');

    // Answered while the refresh is still held by the control plane.
    expect(response.status).toBe(200);
    expect(edge.controlPlane.fetches).toHaveLength(2);
    expect(edge.lastContext().waitUntilCount()).toBe(1);
    gate.resolve();
    await edge.settle();
  });

  it('keeps the held manifest when the control plane answers 304 Not Modified', async () => {
    const { edge, key } = await scenario({ edge: { refreshMs: 2_000 } });
    expect((await edge.send('/v1/models', { key: key.token })).status).toBe(200);
    const [firstEtag] = edge.controlPlane.fetches;

    edge.clock.advance(2_000);
    await edge.send('/v1/models', { key: key.token });
    await edge.settle();

    // The second fetch presented the etag of the first answer, so the fake answered 304.
    expect(firstEtag).toBeNull();
    expect(edge.controlPlane.fetches[1]).toMatch(/^"manifest-/);
    expect((await edge.send('/v1/models', { key: key.token })).status).toBe(200);
  });

  it('refuses a revoked key once the next background refresh has landed', async () => {
    const { edge, key, republish } = await scenario({ edge: { refreshMs: 2_000, maxStaleMs: 30_000 } });
    const other = await mintKey();
    expect((await edge.send('/v1/models', { key: key.token })).status).toBe(200);

    await republish({ keys: [other] });
    edge.clock.advance(2_000);
    // This request triggers the refresh and is still served with the manifest held before it.
    expect((await edge.send('/v1/models', { key: key.token })).status).toBe(200);
    await edge.settle();

    expect((await edge.send('/v1/models', { key: key.token })).status).toBe(401);
  });

  it('waits for a refresh after a long idle period, so a revocation counts at once', async () => {
    const { edge, key, republish } = await scenario({ edge: { refreshMs: 2_000, maxStaleMs: 30_000 } });
    const other = await mintKey();
    expect((await edge.send('/v1/models', { key: key.token })).status).toBe(200);

    await republish({ keys: [other] });
    edge.clock.advance(30_000);

    expect((await edge.send('/v1/models', { key: key.token })).status).toBe(401);
  });
});
