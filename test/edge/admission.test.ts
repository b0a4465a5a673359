// Admission from allowance leases on the edge: the wallet, key budgets and rate limits answered
// with 402 / 429 before any supplier call, one coalesced control-plane call for a burst, the real
// cost settled back, and the grace when the control plane cannot be reached.

import { describe, expect, it } from 'vitest';
import { completion, stream, usageOf } from './support/fake-supplier.ts';
import { buildPricing } from './support/manifest-builder.ts';
import { chatBody, scenario } from './support/scenario.ts';

// Input is free and each output token costs 1 µUSD: a request with max_tokens 100 reserves exactly
// 100 µUSD, and costs exactly that when the supplier writes 100 tokens.
const pricing = buildPricing(0, 1_000_000);
const body = (model: string, extra: Record<string, unknown> = {}) => chatBody(model, { max_tokens: 100, ...extra });

async function errorOf(response: Response): Promise<{ code: string; message: string; type: string }> {
  return ((await response.json()) as { error: { code: string; message: string; type: string } }).error;
}

describe('edge admission', () => {
  it('answers 402 insufficient_balance when the org wallet is empty, and calls no supplier', async () => {
    const { edge, key, model } = await scenario({ model: { pricing } });
    edge.grants.setWallet(key.entry.org_id, 0);
    edge.supplier.script(model.routes[0]!, completion({ content: 'hi', usage: usageOf(5, 100) }));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id) });
    expect(response.status).toBe(402);
    expect(await errorOf(response)).toMatchObject({ code: 'insufficient_balance', type: 'billing_error' });
    expect(edge.supplier.calls).toHaveLength(0);
    await edge.settle();
    // The refused request is recorded, free, and names no lease.
    expect(edge.events()).toMatchObject([{ status: 402, lease_ids: [] }]);
  });

  it('answers /v1/messages denials in the Anthropic error shape', async () => {
    const { edge, key, model } = await scenario({ model: { pricing } });
    edge.grants.setWallet(key.entry.org_id, 0);
    const response = await edge.send('/v1/messages', {
      key: key.token,
      body: { model: model.id, max_tokens: 100, messages: [{ role: 'user', content: 'Hello' }] },
    });
    expect(response.status).toBe(402);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'billing_error' } });
    expect(edge.supplier.calls).toHaveLength(0);
  });

  it('admits exactly as many concurrent requests as a key budget covers, with one control-plane call for the burst', async () => {
    const { edge, key, model } = await scenario({ model: { pricing }, key: { budget: { limit_micros: 500, period: 'monthly' } } });
    edge.grants.setKeyLimits(key.entry.id, { budget: 500 });
    edge.supplier.script(model.routes[0]!, completion({ content: 'hi', usage: usageOf(5, 100) }));

    const responses = await Promise.all(Array.from({ length: 20 }, () => edge.send('/v1/chat/completions', { key: key.token, body: body(model.id) })));
    const statuses = responses.map((r) => r.status);
    await Promise.all(responses.filter((r) => r.status === 200).map((r) => r.text()));
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 402)).toHaveLength(15);
    expect(edge.supplier.calls).toHaveLength(5);
    const denial = await errorOf(responses.find((r) => r.status === 402)!);
    expect(denial.code).toBe('budget_exceeded');
    expect(denial.message).toMatch(/budget/);
    // The burst waited on one sync; a second one at most, for the requests that arrived during it.
    expect(edge.grants.calls.filter((c) => (c.acquire ?? []).length > 0).length).toBeLessThanOrEqual(3);
    await edge.settle();
  });

  it('reserves the output bound once for each choice asked for (n), so n cannot overspend a budget', async () => {
    // 150 µUSD covers one choice of max_tokens 100 (100 µUSD), not two (200 µUSD).
    const { edge, key, model } = await scenario({ model: { pricing }, key: { budget: { limit_micros: 150, period: 'monthly' } } });
    edge.grants.setKeyLimits(key.entry.id, { budget: 150 });
    edge.supplier.script(model.routes[0]!, completion({ content: 'hi', usage: usageOf(5, 100) }));

    const two = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id, { n: 2 }) });
    expect(two.status).toBe(402);
    expect((await errorOf(two)).code).toBe('budget_exceeded');
    expect(edge.supplier.calls).toHaveLength(0);

    edge.clock.advance(1_100); // past the 1 s a refusal is remembered
    const one = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id, { n: 1 }) });
    expect(one.status).toBe(200);
    await one.text();
    expect(edge.supplier.calls).toHaveLength(1);
    await edge.settle();
  });

  it('refuses a request too large for what is left without refusing the smaller requests of the org after it', async () => {
    // 150 µUSD left: a request reserving 10,000 is refused; one reserving 100 right after is not.
    const { edge, key, model } = await scenario({ model: { pricing } });
    edge.grants.setWallet(key.entry.org_id, 150);
    edge.supplier.script(model.routes[0]!, completion({ content: 'hi', usage: usageOf(5, 100) }));

    const large = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id, { max_tokens: 10_000 }) });
    expect(large.status).toBe(402);
    const small = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id) });
    expect(small.status).toBe(200);
    await small.text();
    // Still remembered for requests at least as large: no second call for those within the second.
    const acquisitions = () => edge.grants.calls.flatMap((c) => c.acquire ?? []).length;
    const asked = acquisitions();
    expect((await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id, { max_tokens: 20_000 }) })).status).toBe(402);
    expect(acquisitions()).toBe(asked);
    await edge.settle();
  });

  it("reserves a max_tokens above the model's max_output_tokens at the model's limit", async () => {
    const { edge, key, model } = await scenario({ model: { pricing, max_output_tokens: 100 }, key: { budget: { limit_micros: 150, period: 'monthly' } } });
    edge.grants.setKeyLimits(key.entry.id, { budget: 150 });
    edge.supplier.script(model.routes[0]!, completion({ content: 'hi', usage: usageOf(5, 100) }));

    const response = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id, { max_tokens: 10_000_000 }) });
    expect(response.status).toBe(200);
    await response.text();
    expect(edge.grants.calls.flatMap((c) => c.acquire ?? [])[0]!.money.need).toBe(100);
    await edge.settle();
  });

  it('refuses a worst case beyond any budget on its own with a 400, before any allowance call', async () => {
    const { edge, key, model } = await scenario({ model: { pricing, max_output_tokens: null } });
    edge.supplier.script(model.routes[0]!, completion({ content: 'hi', usage: usageOf(5, 10) }));

    for (const extra of [{ n: 2, max_tokens: Number.MAX_SAFE_INTEGER }, { max_tokens: 2 ** 41 }]) {
      const absurd = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id, extra) });
      expect(absurd.status, JSON.stringify(extra)).toBe(400);
      expect(await errorOf(absurd)).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error' });
    }
    expect(edge.grants.calls).toHaveLength(0);
    const ok = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id) });
    expect(ok.status).toBe(200);
    await ok.text();
    await edge.settle();
  });

  it('settles the real cost: a cheaper answer leaves the rest of the reservation for later requests', async () => {
    const { edge, key, model } = await scenario({ model: { pricing }, key: { budget: { limit_micros: 300, period: 'daily' } } });
    edge.grants.setKeyLimits(key.entry.id, { budget: 300 });
    // Reserves 100 each time, costs 10.
    edge.supplier.script(model.routes[0]!, completion({ content: 'hi', usage: usageOf(5, 10) }));

    for (let i = 0; i < 12; i++) {
      const response = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id) });
      expect(response.status).toBe(200);
      await response.text();
      await edge.settle();
    }
    // 12 × 10 µUSD used of 300: worst-case reservation alone would have stopped at 3.
    expect(edge.supplier.calls).toHaveLength(12);
  });

  it('closes a drained lease with the real usage, so the control plane holds no more than was spent', async () => {
    const { edge, key, model } = await scenario({ model: { pricing } });
    edge.supplier.script(model.routes[0]!, completion({ content: 'hi', usage: usageOf(5, 40) }));
    const first = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id) });
    await first.text();
    await edge.settle();
    // The lease's admit window ends; the next request drains it and closes it in the same call.
    edge.clock.advance(21_000);
    const second = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id) });
    await second.text();
    await edge.settle();
    const closing = edge.grants.calls.flatMap((c) => c.update ?? []).find((u) => u.closed);
    expect(closing).toMatchObject({ money_cap: 40, requests_used: 1, closed: true });
    expect(edge.grants.spent(`org:${key.entry.org_id}`)).toBe(40);
  });

  it('answers 429 with Retry-After and x-ratelimit-* headers past the RPM limit', async () => {
    const { edge, key, model } = await scenario({ model: { pricing }, key: { rate_limit_rpm: 2 } });
    edge.grants.setKeyLimits(key.entry.id, { rpm: 2 });
    edge.supplier.script(model.routes[0]!, completion({ content: 'hi', usage: usageOf(5, 10) }));

    const ok = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id) });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(ok.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    expect(ok.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+s$/);
    await ok.text();
    const second = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id) });
    expect(second.status).toBe(200);
    await second.text();

    const limited = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id) });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(await errorOf(limited)).toMatchObject({ code: 'rate_limited', type: 'rate_limit_error' });
    expect(edge.supplier.calls).toHaveLength(2);
    await edge.settle();
  });

  it('keeps admitting on the lease it holds while the control plane is down, then answers 503 allowance_unavailable', async () => {
    const { edge, key, model } = await scenario({ model: { pricing } });
    edge.supplier.script(model.routes[0]!, completion({ content: 'hi', usage: usageOf(5, 10) }));
    const first = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id) });
    expect(first.status).toBe(200);
    await first.text();
    await edge.settle();

    edge.grants.goDown();
    edge.clock.advance(10_000);
    const inGrace = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id) });
    expect(inGrace.status).toBe(200);
    await inGrace.text();
    await edge.settle();

    edge.clock.advance(11_000);
    const after = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id) });
    expect(after.status).toBe(503);
    expect(after.headers.get('retry-after')).toBe('5');
    expect(await errorOf(after)).toMatchObject({ code: 'allowance_unavailable' });
    expect(edge.supplier.calls).toHaveLength(2);
    await edge.settle();

    edge.grants.goUp();
    const back = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id) });
    expect(back.status).toBe(200);
    await back.text();
    await edge.settle();
  });

  it('bills a streamed request at its reported usage and names the leases in its usage event', async () => {
    const { edge, key, model } = await scenario({ model: { pricing }, key: { budget: { limit_micros: 10_000, period: 'monthly' } } });
    edge.grants.setKeyLimits(key.entry.id, { budget: 10_000 });
    edge.supplier.script(model.routes[0]!, stream({ contents: ['a', 'b'], usage: usageOf(7, 3) }));
    const response = await edge.send('/v1/chat/completions', { key: key.token, body: body(model.id, { stream: true }) });
    await response.text();
    await edge.settle();
    const [event] = edge.events();
    expect(event).toMatchObject({ status: 200, input_tokens: 7, output_tokens: 3 });
    expect(event!.lease_ids).toHaveLength(2);
  });
});
