// Versioned prices: each POST adds a version, none is ever rewritten, and the manifest carries the
// version in force.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../support/control-plane.ts';

let h: Harness;

type Json = Record<string, unknown> & { error?: { code: string; param: string | null } };

beforeAll(async () => {
  h = await createHarness();
  await h.request('POST', '/v1/manage/suppliers', { token: h.ownerToken, body: { id: 'p-sup', name: 'P', format: 'openai', base_url: 'https://p.example.test/v1', region: 'EU' } });
}, 60_000);
afterAll(() => h?.close());

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await h.request(method, path, { token: h.ownerToken, ...(body === undefined ? {} : { body }) });
  return { status: res.status, body: (await res.json()) as Json };
}

async function model(id: string): Promise<string> {
  expect((await call('POST', '/v1/manage/models', { id, owned_by: 'p' })).status).toBe(201);
  await call('POST', `/v1/manage/models/${id}/routes`, { supplier_id: 'p-sup', upstream_model: id });
  return `/v1/manage/models/${id}/prices`;
}

const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();

describe('price versions', () => {
  it('adds a version without changing the old one, and the manifest carries the one in force', async () => {
    const prices = await model('priced');
    const first = await call('POST', prices, { effective_from: inMs(0), input_per_mtok: 1_000_000, output_per_mtok: 3_000_000 });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ object: 'model_price', input_per_mtok: 1_000_000, cached_input_per_mtok: null, tiers: [], in_force: true });
    expect((await h.manifest()).models.priced!.pricing).toEqual({ input_per_mtok: 1_000_000, output_per_mtok: 3_000_000, cached_input_per_mtok: null, cache_write_per_mtok: null, per_second: null, tiers: [] });

    const next = await call('POST', prices, {
      effective_from: inMs(1500),
      input_per_mtok: 2_000_000,
      output_per_mtok: 6_000_000,
      cached_input_per_mtok: 200_000,
      cache_write_per_mtok: 2_500_000,
      tiers: [{ min_input_tokens: 200_000, input_per_mtok: 4_000_000, output_per_mtok: 9_000_000 }],
    });
    expect(next.status).toBe(201);
    expect(next.body.in_force).toBe(false);
    // Scheduled, not yet in force: the manifest still carries the first version.
    expect((await h.manifest()).models.priced!.pricing).toEqual({ input_per_mtok: 1_000_000, output_per_mtok: 3_000_000, cached_input_per_mtok: null, cache_write_per_mtok: null, per_second: null, tiers: [] });

    await new Promise((resolve) => setTimeout(resolve, 1600));
    const listed = await call('GET', prices);
    const versions = listed.body.data as Json[];
    expect(versions.map((v) => [v.input_per_mtok, v.in_force])).toEqual([[2_000_000, true], [1_000_000, false]]);
    // The old version is exactly as it was created.
    expect({ ...versions[1], in_force: true }).toEqual(first.body);
    expect(versions[0]!.tiers).toEqual([{ min_input_tokens: 200_000, input_per_mtok: 4_000_000, output_per_mtok: 9_000_000 }]);
    // A scheduled version reaches the manifest by itself once in force: the publisher rebuilds at
    // the next price change even though no transaction bumped the version.
    expect((await h.manifest()).models.priced!.pricing).toEqual({
      input_per_mtok: 2_000_000,
      output_per_mtok: 6_000_000,
      cached_input_per_mtok: 200_000,
      cache_write_per_mtok: 2_500_000,
      per_second: null,
      tiers: [{ min_input_tokens: 200_000, input_per_mtok: 4_000_000, output_per_mtok: 9_000_000, cached_input_per_mtok: null, cache_write_per_mtok: null }],
    });
  });

  it('never lets a version start in the past: a minute of skew starts now, older is refused', async () => {
    const prices = await model('skewed');
    const before = Date.now();
    const skewed = await call('POST', prices, { effective_from: inMs(-30_000), input_per_mtok: 5, output_per_mtok: 5 });
    expect(skewed.status).toBe(201);
    expect(Date.parse(skewed.body.effective_from as string)).toBeGreaterThanOrEqual(before);
    const old = await call('POST', prices, { effective_from: inMs(-120_000), input_per_mtok: 5, output_per_mtok: 5 });
    expect([old.status, old.body.error!.param]).toEqual([422, 'effective_from']);
    const at = inMs(3_600_000);
    expect((await call('POST', prices, { effective_from: at, input_per_mtok: 1, output_per_mtok: 1 })).status).toBe(201);
    expect((await call('POST', prices, { effective_from: at, input_per_mtok: 2, output_per_mtok: 2 })).status).toBe(409);
  });

  it('refuses the database an UPDATE or DELETE of a price version', async () => {
    const prices = await model('frozen');
    await call('POST', prices, { effective_from: inMs(0), input_per_mtok: 7, output_per_mtok: 7 });
    await expect(h.testDb.db.query("UPDATE model_prices SET input_per_mtok = 1 WHERE model_id = 'frozen'")).rejects.toThrow(/versioned/);
    await expect(h.testDb.db.query("DELETE FROM model_prices WHERE model_id = 'frozen'")).rejects.toThrow(/versioned/);
  });

  it('validates amounts and tiers field by field, and 404s an unknown model', async () => {
    const prices = await model('checked');
    const base = { effective_from: inMs(60_000), input_per_mtok: 1, output_per_mtok: 1 };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, input_per_mtok: -1 }, 'input_per_mtok'],
      [{ ...base, output_per_mtok: 0.5 }, 'output_per_mtok'],
      [{ ...base, output_per_mtok: '1' }, 'output_per_mtok'],
      [{ ...base, per_second: 1e13 }, 'per_second'],
      [{ ...base, effective_from: 'tomorrow' }, 'effective_from'],
      [{ ...base, tiers: [{ min_input_tokens: 0, input_per_mtok: 1, output_per_mtok: 1 }] }, 'tiers.0.min_input_tokens'],
      [{ ...base, tiers: [{ min_input_tokens: 10, input_per_mtok: 1 }] }, 'tiers.0.output_per_mtok'],
      [{ ...base, tiers: [{ min_input_tokens: 10, input_per_mtok: 1, output_per_mtok: 1, surprise: 1 }] }, 'tiers.0'],
      [
        { ...base, tiers: [{ min_input_tokens: 100, input_per_mtok: 1, output_per_mtok: 1 }, { min_input_tokens: 100, input_per_mtok: 2, output_per_mtok: 2 }] },
        'tiers.1.min_input_tokens',
      ],
    ];
    for (const [body, param] of cases) {
      const res = await call('POST', prices, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.error!.param, JSON.stringify(body)).toBe(param);
    }
    const audio = await call('POST', prices, { ...base, input_per_mtok: 0, output_per_mtok: 0, per_second: 100 });
    expect(audio.body).toMatchObject({ per_second: 100 });
    expect((await call('POST', '/v1/manage/models/no-such-model/prices', base)).status).toBe(404);
    expect((await call('GET', '/v1/manage/models/no-such-model/prices')).status).toBe(404);
  });

  it('pages versions newest first with a cursor', async () => {
    const prices = await model('paged');
    for (let i = 1; i <= 3; i++) await call('POST', prices, { effective_from: inMs(i * 60_000), input_per_mtok: i, output_per_mtok: i });
    const first = await call('GET', `${prices}?limit=2`);
    expect((first.body.data as Json[]).map((v) => v.input_per_mtok)).toEqual([3, 2]);
    const second = await call('GET', `${prices}?limit=2&after=${encodeURIComponent(first.body.next_cursor as string)}`);
    expect((second.body.data as Json[]).map((v) => v.input_per_mtok)).toEqual([1]);
    expect(second.body.next_cursor).toBeNull();
  });
});
