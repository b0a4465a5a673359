// The one pricing function the edge and the control plane share (shared/pricing.ts): every price
// dimension, context-size tiers, clamping of inconsistent counts, rounding, the worst case the
// edge reserves, and which version an event is priced with.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  costOf,
  priceInForce,
  secondsCostMicros,
  tokenPricesFor,
  usageCostMicros,
  worstCaseMicros,
  type BillableEvent,
  type PriceLike,
  type PriceTierLike,
  type PriceVersionLike,
} from '../../shared/pricing.ts';

const base = (overrides: Partial<PriceLike> = {}): PriceLike => ({
  input_per_mtok: 1_000_000, // $1 per 1M input tokens = 1 µUSD per token
  output_per_mtok: 4_000_000,
  cached_input_per_mtok: 100_000,
  cache_write_per_mtok: 1_250_000,
  per_second: null,
  tiers: [],
  ...overrides,
});

const tier = (min: number, overrides: Partial<PriceTierLike> = {}): PriceTierLike => ({
  min_input_tokens: min,
  input_per_mtok: 2_000_000,
  output_per_mtok: 8_000_000,
  cached_input_per_mtok: null,
  cache_write_per_mtok: null,
  ...overrides,
});

describe('usageCostMicros: each dimension at its own price', () => {
  it('bills plain input, output, cache reads and cache writes each at their price', () => {
    // 1000 input = 600 plain + 300 cached + 100 written.
    const cost = usageCostMicros(base(), { input: 1000, output: 500, cachedInput: 300, cacheWrite: 100 });
    expect(cost).toBe(600 * 1 + 300 * 0.1 + 100 * 1.25 + 500 * 4);
  });

  it('records reasoning but bills it only inside output, never twice', () => {
    const withReasoning = usageCostMicros(base(), { input: 10, output: 1000, reasoning: 900 });
    expect(withReasoning).toBe(10 + 4000);
    expect(withReasoning).toBe(usageCostMicros(base(), { input: 10, output: 1000 }));
  });

  it('bills cache reads and writes at the input price when the version has no cache prices', () => {
    const plain = base({ cached_input_per_mtok: null, cache_write_per_mtok: null });
    expect(usageCostMicros(plain, { input: 1000, output: 0, cachedInput: 400, cacheWrite: 100 })).toBe(1000);
  });

  it('adds audio seconds at the per-second price to the token cost', () => {
    expect(usageCostMicros(base({ per_second: 400 }), { input: 10, output: 0, audioSeconds: 2.5 })).toBe(10 + 1000);
    expect(usageCostMicros(base({ per_second: null }), { input: 10, output: 0, audioSeconds: 2.5 })).toBe(10);
  });

  it('clamps cache counts to the prompt: reads to input, writes to what reads leave', () => {
    // 100 input claimed as 500 cached: all 100 at the cached price, nothing plain, nothing written.
    expect(usageCostMicros(base(), { input: 100, output: 0, cachedInput: 500, cacheWrite: 50 })).toBe(Math.round(100 * 0.1));
    // 100 input, 60 cached, 80 written: writes clamp to 40; no plain input left.
    expect(usageCostMicros(base(), { input: 100, output: 0, cachedInput: 60, cacheWrite: 80 })).toBe(6 + 50);
  });

  it('rounds each line item half up to the µUSD once, not the sum', () => {
    const p = base({ input_per_mtok: 500_000, output_per_mtok: 500_000, cached_input_per_mtok: 500_000, cache_write_per_mtok: 500_000 });
    // Three lines of 0.5 µUSD each: 1 + 1 + 1, where the sum 1.5 would round to 2.
    expect(usageCostMicros(p, { input: 2, output: 1, cachedInput: 1, cacheWrite: 0 })).toBe(3);
    // 0.4 µUSD rounds down to nothing.
    expect(usageCostMicros(base({ input_per_mtok: 400_000 }), { input: 1, output: 0 })).toBe(0);
  });

  it('stays exact for large counts and prices', () => {
    expect(usageCostMicros(base({ input_per_mtok: 75_000_000, cached_input_per_mtok: null, cache_write_per_mtok: null }), { input: 9_007_199_254, output: 0 })).toBe(675_539_944_050);
  });
});

describe('context-size tiers', () => {
  const tiered = base({ tiers: [tier(200_000), tier(1_000_000, { input_per_mtok: 3_000_000, output_per_mtok: 9_000_000, cached_input_per_mtok: 300_000 })] });

  it('uses the base prices below the first tier', () => {
    expect(tokenPricesFor(tiered, 199_999).input_per_mtok).toBe(1_000_000);
    expect(usageCostMicros(tiered, { input: 199_999, output: 1 })).toBe(199_999 + 4);
  });

  it('switches at exactly min_input_tokens, and the highest matching tier wins', () => {
    expect(tokenPricesFor(tiered, 200_000).input_per_mtok).toBe(2_000_000);
    expect(tokenPricesFor(tiered, 999_999).input_per_mtok).toBe(2_000_000);
    expect(tokenPricesFor(tiered, 1_000_000).input_per_mtok).toBe(3_000_000);
    // Listed out of order, the highest matching tier still wins.
    const shuffled = base({ tiers: [...tiered.tiers].reverse() });
    expect(tokenPricesFor(shuffled, 5_000_000).input_per_mtok).toBe(3_000_000);
    expect(usageCostMicros(tiered, { input: 1_000_000, output: 10 })).toBe(3_000_000 + 90);
  });

  it('bills a tier without a cache price at the tier input price, not the base cache price', () => {
    // Tier 200k has no cached price: cached tokens cost the tier's $2, not the base's $0.10.
    expect(usageCostMicros(tiered, { input: 200_000, output: 0, cachedInput: 100_000 })).toBe(200_000 + 200_000);
    // Tier 1M has a cached price of its own.
    expect(usageCostMicros(tiered, { input: 1_000_000, output: 0, cachedInput: 500_000 })).toBe(1_500_000 + 150_000);
  });

  it('keeps the per-second price of the version whatever the tier', () => {
    const audio = base({ per_second: 1000, tiers: [tier(10)] });
    expect(usageCostMicros(audio, { input: 10, output: 0, audioSeconds: 1 })).toBe(20 + 1000);
  });
});

describe('per-second pricing', () => {
  it('prices seconds to the millisecond, rounded half up once', () => {
    expect(secondsCostMicros(2, 100)).toBe(200);
    expect(secondsCostMicros(0.0015, 1000)).toBe(2);
    expect(secondsCostMicros(0.0014, 1000)).toBe(1);
    expect(secondsCostMicros(0.001, 499)).toBe(0);
    expect(secondsCostMicros(0.001, 500)).toBe(1);
  });

  it('charges nothing without a per-second price or without seconds', () => {
    expect(secondsCostMicros(3, null)).toBe(0);
    expect(secondsCostMicros(0, 100)).toBe(0);
    expect(secondsCostMicros(Number.NaN, 100)).toBe(0);
  });
});

describe('worstCaseMicros: what the edge reserves', () => {
  it('covers the rounding of three input lines that one rounding of their sum would miss', () => {
    const flat = base({ input_per_mtok: 500_000, cached_input_per_mtok: 500_000, cache_write_per_mtok: 500_000, output_per_mtok: 0 });
    const real = usageCostMicros(flat, { input: 3, output: 0, cachedInput: 1, cacheWrite: 1 });
    expect(real).toBe(3);
    expect(worstCaseMicros(flat, { input: 3, output: 0 })).toBeGreaterThanOrEqual(real);
  });

  it('reserves nothing for a free model and nothing beyond the output for an empty prompt', () => {
    const free = base({ input_per_mtok: 0, output_per_mtok: 0, cached_input_per_mtok: 0, cache_write_per_mtok: 0 });
    expect(worstCaseMicros(free, { input: 1000, output: 1000 })).toBe(0);
    expect(worstCaseMicros(base(), { input: 0, output: 1000 })).toBe(4000);
  });

  const price = fc.record({
    input_per_mtok: fc.integer({ min: 0, max: 100_000_000 }),
    output_per_mtok: fc.integer({ min: 0, max: 100_000_000 }),
    cached_input_per_mtok: fc.option(fc.integer({ min: 0, max: 100_000_000 })),
    cache_write_per_mtok: fc.option(fc.integer({ min: 0, max: 100_000_000 })),
    per_second: fc.option(fc.integer({ min: 0, max: 100_000 })),
    tiers: fc.array(
      fc.record({
        min_input_tokens: fc.integer({ min: 1, max: 2_000_000 }),
        input_per_mtok: fc.integer({ min: 0, max: 100_000_000 }),
        output_per_mtok: fc.integer({ min: 0, max: 100_000_000 }),
        cached_input_per_mtok: fc.option(fc.integer({ min: 0, max: 100_000_000 })),
        cache_write_per_mtok: fc.option(fc.integer({ min: 0, max: 100_000_000 })),
      }),
      { maxLength: 4 },
    ),
  });

  it('is never below the real cost of any counts within the bound (property)', () => {
    fc.assert(
      fc.property(
        price,
        fc.integer({ min: 0, max: 2_000_000 }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.integer({ min: 0, max: 36_000_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1.2, noNaN: true }),
        (p, boundIn, boundOut, boundMillis, fIn, fOut, fCached, fWrite, fSeconds) => {
          const bound = { input: boundIn, output: boundOut, audioSeconds: boundMillis / 1000 };
          const input = Math.floor(boundIn * fIn);
          const usage = {
            input,
            output: Math.floor(boundOut * fOut),
            // Up to 1.2 × the prompt: inconsistent counts are clamped, never billed beyond it.
            cachedInput: Math.floor(input * fCached * 1.2),
            cacheWrite: Math.floor(input * fWrite * 1.2),
            reasoning: Math.floor(boundOut * fOut),
            audioSeconds: Math.min(bound.audioSeconds, Math.floor(boundMillis * fSeconds) / 1000),
          };
          expect(worstCaseMicros(p, bound)).toBeGreaterThanOrEqual(usageCostMicros(p, usage));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('holds for the rounding edge cases a random search rarely hits (exhaustive small counts)', () => {
    for (const rate of [1, 333_333, 499_999, 500_000, 500_001, 999_999]) {
      const p = base({ input_per_mtok: rate, cached_input_per_mtok: rate, cache_write_per_mtok: rate, output_per_mtok: rate });
      for (let input = 0; input <= 8; input++) {
        for (let cached = 0; cached <= input; cached++) {
          for (let write = 0; write <= input - cached; write++) {
            const real = usageCostMicros(p, { input, output: 3, cachedInput: cached, cacheWrite: write });
            expect(worstCaseMicros(p, { input, output: 3 })).toBeGreaterThanOrEqual(real);
          }
        }
      }
    }
  });
});

describe('costOf: the version in force at the request start', () => {
  const version = (from: string, input: number): PriceVersionLike => ({ ...base({ input_per_mtok: input }), model_id: 'm', effective_from: new Date(from) });
  const versions = [version('2026-01-01T00:00:00Z', 1_000_000), version('2026-03-01T00:00:00Z', 2_000_000), version('2026-06-01T00:00:00Z', 3_000_000)];
  const event = (overrides: Partial<BillableEvent> = {}): BillableEvent => ({
    model: 'm',
    status: 200,
    started_at: '2026-04-15T12:00:00Z',
    input_tokens: 1000,
    output_tokens: 0,
    ...overrides,
  });

  it('picks the newest version that started at or before the request, whatever the list order', () => {
    expect(priceInForce(versions, 'm', new Date('2026-04-15T00:00:00Z'))?.input_per_mtok).toBe(2_000_000);
    expect(priceInForce([...versions].reverse(), 'm', new Date('2026-03-01T00:00:00Z'))?.input_per_mtok).toBe(2_000_000);
    expect(priceInForce(versions, 'm', new Date('2026-02-28T23:59:59.999Z'))?.input_per_mtok).toBe(1_000_000);
    expect(priceInForce(versions, 'other', new Date('2026-04-15T00:00:00Z'))).toBeNull();
    expect(costOf(event(), versions)).toEqual({ cost_micros: 2000, unpriced: false });
    expect(costOf(event({ started_at: '2026-07-01T00:00:00Z' }), versions)).toEqual({ cost_micros: 3000, unpriced: false });
  });

  it('charges nothing for a non-2xx request, and does not call it unpriced', () => {
    for (const status of [199, 302, 400, 429, 500, 502]) expect(costOf(event({ status }), versions)).toEqual({ cost_micros: 0, unpriced: false });
    expect(costOf(event({ status: 299 }), versions).cost_micros).toBe(2000);
  });

  it('flags a successful request with no version in force as unpriced at cost 0', () => {
    expect(costOf(event({ started_at: '2025-12-31T23:59:59Z' }), versions)).toEqual({ cost_micros: 0, unpriced: true });
    expect(costOf(event({ model: 'unknown' }), versions)).toEqual({ cost_micros: 0, unpriced: true });
    // A failed request of an unpriced model is simply free.
    expect(costOf(event({ model: 'unknown', status: 500 }), versions)).toEqual({ cost_micros: 0, unpriced: false });
  });

  it('prices every counted dimension of an event from an edge that sends them', () => {
    const cost = costOf(event({ input_tokens: 1000, output_tokens: 100, cached_input_tokens: 500, cache_write_tokens: 100, reasoning_tokens: 80, audio_seconds: 0 }), versions);
    // March version: input $2, cached $0.10, write $1.25, output $4 per 1M.
    expect(cost).toEqual({ cost_micros: 400 * 2 + 50 + 125 + 400, unpriced: false });
  });
});
