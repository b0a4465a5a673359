// What a request costs, in integer µUSD: the one function both the control plane (billing, at
// ingest) and the edge (admission: the worst case it reserves, the real cost it settles) use, so
// the two can never disagree on arithmetic.
//
// Token semantics (both supplier formats are normalised to these at the edge):
// - `input` is the whole prompt: plain input + cache reads (`cachedInput`) + cache writes
//   (`cacheWrite`). Plain input is what is left after the two.
// - `output` is everything generated, reasoning included; `reasoning` is the part of it the model
//   spent thinking. OpenAI's completion_tokens and Anthropic's output_tokens both already include
//   it, and both suppliers bill it at the output price, so it is recorded but never added twice.
// - Cache reads and writes use their own price when the version has one, else the input price.
// - A context-size tier applies when the prompt (`input`) has at least its `min_input_tokens`; the
//   highest such tier wins and replaces the base token prices.
// Each line item is rounded half up to the µUSD once (money.ts).

import { tokenCostMicros, type Micros } from './money.ts';

export interface TokenPrices {
  input_per_mtok: Micros;
  output_per_mtok: Micros;
  cached_input_per_mtok: Micros | null;
  cache_write_per_mtok: Micros | null;
}

export interface PriceTierLike extends TokenPrices {
  min_input_tokens: number;
}

export interface PriceLike extends TokenPrices {
  /** Audio: µUSD per second; null when the model is not priced by time. */
  per_second: Micros | null;
  tiers: readonly PriceTierLike[];
}

export interface UsageCounts {
  input: number;
  output: number;
  cachedInput?: number;
  cacheWrite?: number;
  reasoning?: number;
  audioSeconds?: number;
}

/** The token prices in force for a prompt of `inputTokens`: the highest matching tier, else the base. */
export function tokenPricesFor(price: PriceLike, inputTokens: number): TokenPrices {
  let best: PriceTierLike | null = null;
  for (const tier of price.tiers) {
    if (tier.min_input_tokens <= inputTokens && (!best || tier.min_input_tokens > best.min_input_tokens)) best = tier;
  }
  return best ?? price;
}

/** Seconds (to the millisecond) × µUSD per second, in BigInt, rounded half up once. */
export function secondsCostMicros(seconds: number, perSecondMicros: Micros | null): Micros {
  if (perSecondMicros === null || !(seconds > 0)) return 0;
  const millis = BigInt(Math.round(seconds * 1000));
  return Number((millis * BigInt(perSecondMicros) + 500n) / 1000n);
}

/** The cost of one request's counts under one price version. */
export function usageCostMicros(price: PriceLike, usage: UsageCounts): Micros {
  const input = usage.input;
  const cached = Math.min(usage.cachedInput ?? 0, input);
  const cacheWrite = Math.min(usage.cacheWrite ?? 0, input - cached);
  const p = tokenPricesFor(price, input);
  return (
    tokenCostMicros(input - cached - cacheWrite, p.input_per_mtok) +
    tokenCostMicros(cached, p.cached_input_per_mtok ?? p.input_per_mtok) +
    tokenCostMicros(cacheWrite, p.cache_write_per_mtok ?? p.input_per_mtok) +
    tokenCostMicros(usage.output, p.output_per_mtok) +
    secondsCostMicros(usage.audioSeconds ?? 0, price.per_second)
  );
}

/**
 * The most a request with at most these counts can cost: every input token at the dearest input
 * rate (a cache write usually costs more than plain input), under whichever tier up to
 * `inputTokens` is dearest (a smaller real prompt may land in a cheaper or, oddly priced, a dearer
 * tier). The edge reserves this before going upstream.
 */
export function worstCaseMicros(price: PriceLike, bound: { input: number; output: number; audioSeconds?: number }): Micros {
  let worst = 0;
  for (const p of [price, ...price.tiers.filter((t) => t.min_input_tokens <= bound.input)]) {
    const inputRate = Math.max(p.input_per_mtok, p.cache_write_per_mtok ?? 0, p.cached_input_per_mtok ?? 0);
    worst = Math.max(worst, tokenCostMicros(bound.input, inputRate) + tokenCostMicros(bound.output, p.output_per_mtok));
  }
  return worst + secondsCostMicros(bound.audioSeconds ?? 0, price.per_second);
}
