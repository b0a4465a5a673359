// Audio is priced per second at ingest (PRODUCT.md §5): seconds to the millisecond × the µUSD per
// second of the price version in force, added to any token cost; rows without seconds cost as before.
// The arithmetic is shared/pricing.ts (the edge uses the same); test/shared/pricing.test.ts covers the rest.
import { describe, expect, it } from 'vitest';
import { costOf, secondsCostMicros, type PriceVersionLike } from '../../shared/pricing.ts';
import type { UsageEvent } from '../../shared/usage.ts';

const event = (overrides: Partial<UsageEvent>): UsageEvent => ({
  id: crypto.randomUUID(),
  request_id: 'req_1',
  key_id: crypto.randomUUID(),
  org_id: crypto.randomUUID(),
  user_id: null,
  model: 'tts',
  supplier_id: 'fake',
  region: 'EU',
  endpoint: '/v1/audio/speech',
  status: 200,
  input_tokens: 0,
  output_tokens: 0,
  estimated: true,
  started_at: '2026-01-01T00:00:00Z',
  latency_ms: 1,
  ...overrides,
});
const price = (perSecond: number | null): PriceVersionLike => ({
  model_id: 'tts',
  effective_from: new Date('2025-01-01'),
  input_per_mtok: 1_000_000,
  output_per_mtok: 0,
  cached_input_per_mtok: null,
  cache_write_per_mtok: null,
  per_second: perSecond,
  tiers: [],
});

describe('audio pricing at ingest', () => {
  it('prices seconds to the millisecond, rounded half up once per row', () => {
    expect(secondsCostMicros(2, 100)).toBe(200);
    expect(secondsCostMicros(1.0005, 1)).toBe(1);
    expect(secondsCostMicros(0.0015, 1000)).toBe(2);
    expect(secondsCostMicros(3, null)).toBe(0);
  });

  it('adds audio seconds to token cost, and an event from an older edge without seconds costs tokens only', () => {
    expect(costOf(event({ audio_seconds: 2.5, input_tokens: 10 }), [price(400)]).cost_micros).toBe(1000 + 10);
    expect(costOf(event({ input_tokens: 10 }), [price(400)]).cost_micros).toBe(10);
  });

  it('charges nothing for a failed request, whatever its seconds', () => {
    expect(costOf(event({ audio_seconds: 5, status: 502 }), [price(400)])).toEqual({ cost_micros: 0, unpriced: false });
  });
});
