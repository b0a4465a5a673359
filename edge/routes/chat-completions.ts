// POST /v1/chat/completions: the OpenAI chat surface. OpenAI-format routes get the body as sent;
// Anthropic-format routes (Claude) get it translated, and their answer translated back.

import type { Handler } from 'hono';
import { errorBody } from '../../shared/errors.ts';
import { ChatCompletionRequest } from '../../shared/openai-chat.ts';
import type { EdgeDeps } from '../app.ts';
import { readJsonBody } from '../bounded-body.ts';
import { hiddenInputTokens } from '../hidden-input.ts';
import { FALLBACK_MAX_TOKENS, messagesRequestFromChat, wantsJsonAnswer } from '../formats/chat-to-messages-request.ts';
import { chatCompletionFromMessage } from '../formats/message-to-chat-completion.ts';
import { messagesStreamToChat } from '../formats/messages-stream-to-chat.ts';
import { runInference } from '../inference.ts';
import { meterJsonPassThrough, meterJsonTranslated } from '../meter-json.ts';
import { meterTranslatedStream } from '../metering-anthropic.ts';
import { meterChatStream, readChatAnswer } from '../metering.ts';
import { anthropicRequest } from '../providers/anthropic.ts';
import { openAiChatRequest } from '../providers/openai.ts';
import type { EdgeEnv } from '../request-context.ts';
import { refuseUnpricedChat } from '../unpriced.ts';
import { parseBody } from '../validation.ts';

const unreadable = (requestId: string) => errorBody('upstream_failed', 'The supplier sent an answer that could not be read.', { requestId });

export function chatCompletionsRoute(deps: EdgeDeps): Handler<EdgeEnv> {
  return async (c) => {
    const { json, bytes } = await readJsonBody(c.req.raw, deps.maxRequestBytes);
    const body = parseBody(ChatCompletionRequest, json);
    refuseUnpricedChat(body);
    const models = c.get('manifest').models;
    const maxOutput = Object.hasOwn(models, body.model) ? models[body.model]!.max_output_tokens : null;
    // Translated once, on the first Anthropic-format route, however many routes are tried.
    let translated: Record<string, unknown> | undefined;
    const asMessages = () => (translated ??= messagesRequestFromChat(body, { defaultMaxTokens: maxOutput ?? FALLBACK_MAX_TOKENS }));
    const requestId = c.get('requestId');
    const includeUsage = body.stream_options?.include_usage === true;
    // A json_schema response_format reaches a Claude model as a forced tool: its input is the answer.
    const jsonAnswer = wantsJsonAnswer(body);
    return runInference(c, deps, {
      model: body.model,
      modelType: 'chat',
      metadata: body.metadata,
      requestBytes: bytes,
      bound: {
        output: body.max_completion_tokens ?? body.max_tokens ?? null,
        choices: body.n,
        hiddenInput: hiddenInputTokens(body.messages, { tools: (body.tools?.length ?? 0) > 0 || jsonAnswer }),
      },
      formats: ['openai', 'anthropic'],
      upstream: (route, credential) =>
        route.format === 'openai' ? openAiChatRequest(route, body, credential) : anthropicRequest(route, asMessages(), credential, { endpoint: 'messages' }),
      respond: (response, upstreamBody, route, onEnd) => {
        if (route.format === 'anthropic') {
          const created = Math.floor(deps.nowMs() / 1000);
          return body.stream
            ? { body: meterTranslatedStream(upstreamBody, messagesStreamToChat({ model: body.model, created, includeUsage, requestId, jsonAnswer }), onEnd), contentType: 'text/event-stream; charset=utf-8' }
            : {
                body: meterJsonTranslated(response, (j) => chatCompletionFromMessage(j, { model: body.model, created, jsonAnswer }), () => unreadable(requestId), onEnd),
                contentType: 'application/json',
              };
        }
        return body.stream
          ? {
              body: meterChatStream(upstreamBody, { dropUsageChunk: !includeUsage, requestId }, onEnd),
              contentType: response.headers.get('content-type') ?? 'text/event-stream',
            }
          : { body: meterJsonPassThrough(response, readChatAnswer, onEnd), contentType: response.headers.get('content-type') ?? 'application/json' };
      },
    });
  };
}
