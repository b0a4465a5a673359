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

/**
 * USD as people write it (a JSON number such as 500.00) to integer µUSD, exactly: at most six
 * decimals, never negative, never beyond safe integers. Null when the value is not such an amount.
 * Parsed from the number's shortest decimal form, so 0.1 becomes 100_000 and not 100_000.0000001.
 */
export function usdToMicros(usd: number): Micros | null {
  if (!Number.isFinite(usd) || usd < 0) return null;
  const text = usd.toString();
  if (/e/i.test(text)) {
    // Exponent forms: only tiny or huge numbers print this way; accept them when exact.
    const micros = usd * MICROS_PER_USD;
    return Number.isSafeInteger(micros) && micros / MICROS_PER_USD === usd ? micros : null;
  }
  const [whole, fraction = ''] = text.split('.');
  if (fraction.length > 6) return null;
  const micros = Number(whole) * MICROS_PER_USD + Number(fraction.padEnd(6, '0'));
  return Number.isSafeInteger(micros) ? micros : null;
}

/** µUSD back to a USD number for JSON answers (exact for every amount below ~$9 billion). */
export function microsToUsd(micros: Micros): number {
  return micros / MICROS_PER_USD;
}
