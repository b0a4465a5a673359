// POST /v1/messages/count_tokens. Anthropic-format routes forward to the supplier's exact count.
// OpenAI-format suppliers have no counting endpoint: when no allowed route speaks Anthropic, the
// edge answers an estimate it computes itself (formats/count-tokens-estimate.ts), after the same
// key and policy checks as generation, without calling any supplier. A count generates nothing and
// is free: its usage row records the request with zero tokens.

import type { Handler } from 'hono';
import { ApiError } from '../../shared/errors.ts';
import { CountTokensRequest } from '../../shared/anthropic-messages.ts';
import type { EdgeDeps } from '../app.ts';
import { readJsonBody } from '../bounded-body.ts';
import { estimateInputTokens } from '../formats/count-tokens-estimate.ts';
import { runInference } from '../inference.ts';
import { meter } from '../metering.ts';
import { admit } from '../policy.ts';
import { anthropicBetas, anthropicRequest } from '../providers/anthropic.ts';
import type { EdgeEnv } from '../request-context.ts';
import { parseBody } from '../validation.ts';

const NOTHING_GENERATED = { input: 0, output: 0, cachedInput: 0, reasoning: 0 };

export function countTokensRoute(deps: EdgeDeps): Handler<EdgeEnv> {
  return async (c) => {
    const { json, bytes } = await readJsonBody(c.req.raw, deps.maxRequestBytes);
    const body = parseBody(CountTokensRequest, json);
    const admission = admit(c.get('key'), c.get('manifest'), body.model);
    if (admission.ok && !admission.routes.some((r) => r.format === 'anthropic')) {
      const usage = c.get('usage');
      usage.model(body.model);
      usage.finish({ status: 200, usage: NOTHING_GENERATED });
      return c.json({ input_tokens: estimateInputTokens(body) });
    }
    // A denial is reported by runInference exactly as for generation.
    if (!admission.ok) throw new ApiError(admission.code, admission.message, admission.param ? { param: admission.param } : {});
    return runInference(c, deps, {
      model: body.model,
      requestBytes: bytes,
      // Counting generates nothing and is free.
      bound: { input: 0, output: 0 },
      formats: ['anthropic'],
      upstream: (route, credential) => anthropicRequest(route, body, credential, { endpoint: 'count_tokens', beta: anthropicBetas(c.req.header('anthropic-beta')) }),
      respond: (response, upstreamBody, _route, onEnd) => ({
        body: meter(
          upstreamBody,
          { chunk: (b) => b, end: () => null, failure: () => null, result: () => ({ usage: NOTHING_GENERATED, outputEstimate: 0 }) },
          onEnd,
        ),
        contentType: response.headers.get('content-type') ?? 'application/json',
      }),
    });
  };
}
