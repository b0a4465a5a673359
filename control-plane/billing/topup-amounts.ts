// What a top-up pays and what it credits (PRODUCT.md §5): $5 to $5,000 in whole cents (Stripe
// charges cents), a 5% fee on top of the credit, so the wallet receives paid / 1.05 rounded half
// up to the µUSD, and the fee is the rest — credit + fee = paid exactly, so the ledger balances.

export const TOPUP_MIN_MICROS = 5_000_000;
export const TOPUP_MAX_MICROS = 5_000_000_000;
export const MICROS_PER_CENT = 10_000;

export interface TopupSplit {
  paidMicros: number;
  creditMicros: number;
  feeMicros: number;
}

export type TopupAmount = { ok: true; split: TopupSplit } | { ok: false; denial: 'below_minimum' | 'above_maximum' | 'fractional_cents' };

/** credit = round_half_up(paid × 100 / 105), in BigInt: $100 → 95.238095 credit, 4.761905 fee. */
export function splitTopup(paidMicros: number): TopupSplit {
  if (!Number.isSafeInteger(paidMicros) || paidMicros <= 0) throw new RangeError(`bad top-up amount: ${paidMicros}`);
  const creditMicros = Number((BigInt(paidMicros) * 200n + 105n) / 210n);
  return { paidMicros, creditMicros, feeMicros: paidMicros - creditMicros };
}

export function checkTopupAmount(paidMicros: number): TopupAmount {
  if (paidMicros < TOPUP_MIN_MICROS) return { ok: false, denial: 'below_minimum' };
  if (paidMicros > TOPUP_MAX_MICROS) return { ok: false, denial: 'above_maximum' };
  if (paidMicros % MICROS_PER_CENT !== 0) return { ok: false, denial: 'fractional_cents' };
  return { ok: true, split: splitTopup(paidMicros) };
}
