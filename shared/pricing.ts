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
// Which version applies: the newest whose effective_from ≤ the request's start (costOf below).

import { tokenCostMicros, type Micros } from './money.ts';
import type { UsageEvent } from './usage.ts';

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
 *
 * The input part is rounded up and gets 1 µUSD more: the real cost rounds up to three input lines
 * (plain, cache read, cache write) half up each, which can exceed one rounding of their sum by up to
 * 1.5 µUSD (three lines of 0.5 µUSD cost 3, their sum rounds to 2); ceil(sum) + 1 always covers it.
 */
export function worstCaseMicros(price: PriceLike, bound: { input: number; output: number; audioSeconds?: number }): Micros {
  let worst = 0;
  for (const p of [price, ...price.tiers.filter((t) => t.min_input_tokens <= bound.input)]) {
    const inputRate = Math.max(p.input_per_mtok, p.cache_write_per_mtok ?? 0, p.cached_input_per_mtok ?? 0);
    worst = Math.max(worst, inputCeilingMicros(bound.input, inputRate) + tokenCostMicros(bound.output, p.output_per_mtok));
  }
  return worst + secondsCostMicros(bound.audioSeconds ?? 0, price.per_second);
}

function inputCeilingMicros(tokens: number, pricePerMillionMicros: Micros): Micros {
  if (tokens === 0 || pricePerMillionMicros === 0) return 0;
  const ceil = (BigInt(tokens) * BigInt(pricePerMillionMicros) + 999_999n) / 1_000_000n;
  return Number(ceil) + 1;
}

/** A price version as stored: a model's prices from `effective_from` on. */
export interface PriceVersionLike extends PriceLike {
  model_id: string;
  effective_from: Date;
}

/** The version in force for `model` at `at`: the newest whose effective_from ≤ at; null when none. */
export function priceInForce<V extends PriceVersionLike>(versions: readonly V[], model: string, at: Date): V | null {
  let best: V | null = null;
  for (const v of versions) {
    if (v.model_id !== model || v.effective_from.getTime() > at.getTime()) continue;
    if (!best || v.effective_from.getTime() > best.effective_from.getTime()) best = v;
  }
  return best;
}

export type BillableEvent = Pick<
  UsageEvent,
  'model' | 'status' | 'started_at' | 'input_tokens' | 'output_tokens' | 'cached_input_tokens' | 'cache_write_tokens' | 'reasoning_tokens' | 'audio_seconds'
>;

export interface EventCost {
  cost_micros: Micros;
  /** A successful request whose model had no price version in force: stored at 0, never silently "priced". */
  unpriced: boolean;
}

/**
 * What one usage event costs (PRODUCT.md §5): non-2xx requests are free; a 2xx one is priced with
 * the version in force at its start, or flagged unpriced (cost 0) when its model has none.
 */
export function costOf(event: BillableEvent, versions: readonly PriceVersionLike[]): EventCost {
  if (event.status < 200 || event.status > 299) return { cost_micros: 0, unpriced: false };
  const price = priceInForce(versions, event.model, new Date(event.started_at));
  if (!price) return { cost_micros: 0, unpriced: true };
  const cost = usageCostMicros(price, {
    input: event.input_tokens,
    output: event.output_tokens,
    cachedInput: event.cached_input_tokens ?? 0,
    cacheWrite: event.cache_write_tokens ?? 0,
    reasoning: event.reasoning_tokens ?? 0,
    audioSeconds: event.audio_seconds ?? 0,
  });
  return { cost_micros: cost, unpriced: false };
}
