// What a request asks of its allowances before it goes upstream (edge/allowances.ts): the scopes
// it spends from and its worst-case cost, and, when it ends, what it really cost.
//
// The worst case (README "Admission"): every request byte counted as one input token (byte-level
// BPE never packs fewer than one byte into a token, and the JSON around the prompt only adds
// bytes), capped by the model's context window, plus the output bound — the request's own
// max_tokens (at most the model's max_output_tokens), else the model's max_output_tokens, else
// DEFAULT_OUTPUT_BOUND, once for each choice asked for (OpenAI chat's `n`) — and the surface's
// audio bound, all at the dearest rate that can apply (shared/pricing.ts worstCaseMicros).

import type { AllowanceScope } from '../shared/allowance.ts';
import { ApiError } from '../shared/errors.ts';
import type { KeyEntry, ModelEntry } from '../shared/manifest.ts';
import { usageCostMicros, worstCaseMicros } from '../shared/pricing.ts';
import type { UsageEvent } from '../shared/usage.ts';
import type { Settlement, WorstCase } from './allowances.ts';

/** Output bound when neither the request nor the catalog gives one. */
export const DEFAULT_OUTPUT_BOUND = 32_768;

export interface RequestBound {
  /** Input tokens at most; default: the request's size in bytes. */
  input?: number;
  /** Input billed beyond what the request's bytes hold (edge/hidden-input.ts), added to `input`. */
  hiddenInput?: number;
  /** Output tokens at most (the request's max_tokens); default: the model's limit. */
  output?: number | null;
  /**
   * Answers generated at once (OpenAI chat's `n`, default 1): max_tokens bounds each choice, and
   * the supplier bills them all, so the output bound counts once per choice.
   */
  choices?: number | null;
  /** Audio seconds at most (per-second pricing). */
  audioSeconds?: number;
  /**
   * Inputs the supplier reads separately (an embeddings batch, rerank's query-document pairs):
   * the context window caps each of them, not their sum. Default 1.
   */
  items?: number;
}

/** The org wallet always; the owner's budget and the key's budget and limits when they exist. */
export function scopesOf(key: KeyEntry): AllowanceScope[] {
  const scopes: AllowanceScope[] = [{ kind: 'org', org_id: key.org_id }];
  if (key.owner_id !== null && key.owner_budget !== null) scopes.push({ kind: 'user', org_id: key.org_id, user_id: key.owner_id });
  if (key.budget !== null || key.rate_limit_rpm !== null || key.rate_limit_tpm !== null) scopes.push({ kind: 'key', key_id: key.id });
  return scopes;
}

/**
 * The most tokens and µUSD one request may reserve: far beyond any real request (a trillion
 * tokens, $70M), and low enough that a lease's prefetch of 32 such requests stays an exact integer.
 * Above it, the request is refused on its own, before it can reach the allowance round it would
 * share with other requests (and other orgs).
 */
export const MAX_WORST_TOKENS = 2 ** 40;
export const MAX_WORST_MICROS = 2 ** 46;

export function worstCaseOf(model: ModelEntry, requestBytes: number, bound: RequestBound = {}): WorstCase {
  let input = (bound.input ?? requestBytes) + (bound.hiddenInput ?? 0);
  if (model.context_window !== null) input = Math.min(input, model.context_window * (bound.items ?? 1));
  // A max_tokens above the catalog's max_output_tokens cannot be generated (suppliers refuse or
  // cap it): reserving it would ask the wallet for money no answer can cost.
  const limit = model.max_output_tokens ?? DEFAULT_OUTPUT_BOUND;
  const perChoice = Math.min(bound.output ?? limit, model.max_output_tokens ?? Number.POSITIVE_INFINITY);
  const output = perChoice * (bound.choices ?? 1);
  if (!(input + output <= MAX_WORST_TOKENS)) throw tooLarge();
  const money = model.pricing ? worstCaseMicros(model.pricing, { input, output, audioSeconds: bound.audioSeconds ?? 0 }) : 0;
  if (!(money <= MAX_WORST_MICROS)) throw tooLarge();
  return { money, tokens: input + output };
}

function tooLarge(): ApiError {
  return new ApiError('invalid_request', 'The most this request could cost (its max_tokens for each of its n choices, or its audio) is beyond any budget: ask for less.', {
    param: 'max_tokens',
  });
}

/** What a finished request really spent: failed requests are free and use no tokens. */
export function settlementOf(model: ModelEntry, event: UsageEvent): Settlement {
  if (event.status < 200 || event.status > 299) return { money: 0, tokens: 0 };
  const money = model.pricing
    ? usageCostMicros(model.pricing, {
        input: event.input_tokens,
        output: event.output_tokens,
        cachedInput: event.cached_input_tokens ?? 0,
        cacheWrite: event.cache_write_tokens ?? 0,
        audioSeconds: event.audio_seconds ?? 0,
      })
    : 0;
  return { money, tokens: event.input_tokens + event.output_tokens };
}
