// POST /v1/chat/completions: parse, admit by policy, forward with failover, stream back metered.

import type { Handler } from 'hono';
import { ApiError } from '../../shared/errors.ts';
import { ChatCompletionRequest } from '../../shared/openai-chat.ts';
import type { EdgeDeps } from '../app.ts';
import { meterChatJson, meterChatStream, type MeterResult } from '../metering.ts';
import { admit } from '../policy.ts';
import { openAiChatRequest } from '../providers/openai.ts';
import { forwardWithFailover } from '../proxy.ts';
import { readJsonBody } from '../bounded-body.ts';
import { rejectionFromSupplier } from '../supplier-rejection.ts';
import type { EdgeEnv } from '../request-context.ts';
import { parseBody } from '../validation.ts';

export function chatCompletionsRoute(deps: EdgeDeps): Handler<EdgeEnv> {
  return async (c) => {
    const usage = c.get('usage');
    const { json, bytes } = await readJsonBody(c.req.raw, deps.maxRequestBytes);
    const body = parseBody(ChatCompletionRequest, json);
    usage.model(body.model);
    const admission = admit(c.get('key'), c.get('manifest'), body.model);
    if (!admission.ok) throw new ApiError(admission.code, admission.message, admission.param ? { param: admission.param } : {});

    // Anthropic-format suppliers are reached through translation (issue 4); until then only
    // OpenAI-format routes are tried.
    const routes = admission.routes.filter((r) => r.format === 'openai');
    if (routes.length === 0) throw new ApiError('upstream_failed', `No OpenAI-compatible supplier serves '${body.model}' yet.`);
    const forwarded = await forwardWithFailover(
      routes,
      (route) => openAiChatRequest(route, body, deps.supplierKeys[route.supplier_id]),
      { fetch: deps.fetchUpstream, firstByteTimeoutMs: deps.upstreamFirstByteTimeoutMs },
    );
    if (!forwarded.ok) {
      throw forwarded.timedOut
        ? new ApiError('upstream_timeout', 'Every allowed supplier timed out.')
        : new ApiError('upstream_failed', 'Every allowed supplier failed. Retry later.');
    }
    const { response, route } = forwarded;
    usage.route(route);
    c.header('x-taas-supplier', route.supplier_id);
    c.header('x-taas-region', route.region);
    if (!response.ok) throw await rejectionFromSupplier(response);
    if (!response.body) throw new ApiError('upstream_failed', 'The supplier sent an empty answer.');

    const onEnd = (result: MeterResult) =>
      usage.finish({
        status: response.status,
        usage: result.usage,
        // Only when the supplier reported nothing: ~4 bytes a token in; the meter's guess out.
        estimate: { input: Math.ceil(bytes / 4), output: result.outputEstimate },
      });
    const stream = body.stream
      ? meterChatStream(response.body, { dropUsageChunk: !body.stream_options?.include_usage, requestId: c.get('requestId') }, onEnd)
      : meterChatJson(response.body, onEnd);
    c.header('content-type', response.headers.get('content-type') ?? (body.stream ? 'text/event-stream' : 'application/json'));
    if (body.stream) c.header('cache-control', 'no-cache');
    return c.body(stream, response.status as 200);
  };
}
