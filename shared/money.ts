// Money is integer micro-USD (1 USD = 1_000_000 µUSD) end to end; never a float.
// Prices are integer µUSD per 1M tokens, so a line's cost is tokens × price / 1e6, computed in
// BigInt and rounded half up to the micro-dollar, once per line item.

export type Micros = number;

export const MICROS_PER_USD = 1_000_000;

export function assertMicros(value: number): Micros {
  if (!Number.isSafeInteger(value)) throw new RangeError(`not an integer micro-USD amount: ${value}`);
  return value;
}

export function tokenCostMicros(tokens: number, pricePerMillionMicros: Micros): Micros {
  if (!Number.isSafeInteger(tokens) || tokens < 0) throw new RangeError(`bad token count: ${tokens}`);
  assertMicros(pricePerMillionMicros);
  const scaled = BigInt(tokens) * BigInt(pricePerMillionMicros);
  return Number((scaled + 500_000n) / 1_000_000n);
}

/** Display only: "12.345678" for 12_345_678 µUSD. Never parse this back into money. */
export function formatUsd(micros: Micros): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  return `${sign}${Math.floor(abs / MICROS_PER_USD)}.${String(abs % MICROS_PER_USD).padStart(6, '0')}`;
}
