// POST /v1/chat/completions: the OpenAI chat surface.

import type { Handler } from 'hono';
import { ChatCompletionRequest } from '../../shared/openai-chat.ts';
import type { EdgeDeps } from '../app.ts';
import { readJsonBody } from '../bounded-body.ts';
import { runInference } from '../inference.ts';
import { meterChatJson, meterChatStream } from '../metering.ts';
import { openAiChatRequest } from '../providers/openai.ts';
import type { EdgeEnv } from '../request-context.ts';
import { parseBody } from '../validation.ts';

export function chatCompletionsRoute(deps: EdgeDeps): Handler<EdgeEnv> {
  return async (c) => {
    const { json, bytes } = await readJsonBody(c.req.raw, deps.maxRequestBytes);
    const body = parseBody(ChatCompletionRequest, json);
    return runInference(c, deps, {
      model: body.model,
      metadata: body.metadata,
      requestBytes: bytes,
      // Anthropic-format suppliers are reached through translation (issue 4).
      upstream: (route, credential) => (route.format === 'openai' ? openAiChatRequest(route, body, credential) : null),
      respond: (response, upstreamBody, _route, onEnd) =>
        body.stream
          ? {
              body: meterChatStream(upstreamBody, { dropUsageChunk: !body.stream_options?.include_usage, requestId: c.get('requestId') }, onEnd),
              contentType: response.headers.get('content-type') ?? 'text/event-stream',
            }
          : { body: meterChatJson(upstreamBody, onEnd), contentType: response.headers.get('content-type') ?? 'application/json' },
    });
  };
}
