import { describe, expect, it } from 'vitest';
import { formatUsd, microsToUsd, tokenCostMicros, usdToMicros } from '../../shared/money.ts';

describe('money in integer micro-USD', () => {
  it('prices tokens per million, rounding half up once per line', () => {
    expect(tokenCostMicros(1_000_000, 150_000)).toBe(150_000);
    expect(tokenCostMicros(1, 150_000)).toBe(0); // 0.15 µUSD rounds down
    expect(tokenCostMicros(4, 150_000)).toBe(1); // 0.6 µUSD rounds up
    expect(tokenCostMicros(10, 50_000)).toBe(1); // exactly 0.5 rounds up
    expect(tokenCostMicros(0, 999_999)).toBe(0);
  });

  it('stays exact beyond float precision', () => {
    // 2^53 / 1e6 tokens at a large price would lose digits as a float product.
    expect(tokenCostMicros(9_007_199_254, 75_000_000)).toBe(675_539_944_050);
  });

  it('refuses fractional or negative inputs', () => {
    expect(() => tokenCostMicros(1.5, 10)).toThrow(RangeError);
    expect(() => tokenCostMicros(-1, 10)).toThrow(RangeError);
    expect(() => tokenCostMicros(1, 0.1)).toThrow(RangeError);
  });

  it('formats for display without floats', () => {
    expect(formatUsd(95_238_095)).toBe('95.238095');
    expect(formatUsd(-5)).toBe('-0.000005');
  });
});

describe('USD amounts in the API', () => {
  it('converts USD numbers with up to six decimals to exact micro-USD', () => {
    expect(usdToMicros(500)).toBe(500_000_000);
    expect(usdToMicros(500.0)).toBe(500_000_000);
    expect(usdToMicros(0.1)).toBe(100_000);
    expect(usdToMicros(95.238095)).toBe(95_238_095);
    expect(usdToMicros(0.000001)).toBe(1);
    expect(usdToMicros(0)).toBe(0);
    expect(microsToUsd(95_238_095)).toBe(95.238095);
  });

  it('refuses more than six decimals, negatives, non-finite and unsafe amounts', () => {
    expect(usdToMicros(0.0000001)).toBeNull();
    expect(usdToMicros(1.2345678)).toBeNull();
    expect(usdToMicros(-1)).toBeNull();
    expect(usdToMicros(Number.NaN)).toBeNull();
    expect(usdToMicros(Number.POSITIVE_INFINITY)).toBeNull();
    expect(usdToMicros(1e12)).toBeNull();
  });
});
