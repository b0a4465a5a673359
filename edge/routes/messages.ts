// POST /v1/messages: the Anthropic Messages surface. Anthropic-format routes get the body as sent
// (model name swapped); OpenAI-format routes get it translated, and their answer translated back.

import type { Handler } from 'hono';
import { MessagesRequest } from '../../shared/anthropic-messages.ts';
import type { ChatCompletionRequest } from '../../shared/openai-chat.ts';
import type { EdgeDeps } from '../app.ts';
import { readJsonBody } from '../bounded-body.ts';
import { hiddenInputTokens } from '../hidden-input.ts';
import { messageFromChatCompletion } from '../formats/chat-completion-to-message.ts';
import { chatStreamToMessages } from '../formats/chat-stream-to-messages.ts';
import { chatRequestFromMessages } from '../formats/messages-to-chat-request.ts';
import { runInference } from '../inference.ts';
import { errorPayload } from '../error-shape.ts';
import { meterJsonPassThrough, meterJsonTranslated } from '../meter-json.ts';
import { meterMessagesStream, meterTranslatedStream, readMessageAnswer } from '../metering-anthropic.ts';
import { anthropicBetas, anthropicRequest } from '../providers/anthropic.ts';
import { openAiChatRequest } from '../providers/openai.ts';
import type { EdgeEnv } from '../request-context.ts';
import { refuseUnpricedMessages } from '../unpriced.ts';
import { parseBody } from '../validation.ts';

const SSE = 'text/event-stream; charset=utf-8';
const JSON_TYPE = 'application/json';

export function messagesRoute(deps: EdgeDeps): Handler<EdgeEnv> {
  return async (c) => {
    const { json, bytes } = await readJsonBody(c.req.raw, deps.maxRequestBytes);
    const body = parseBody(MessagesRequest, json);
    refuseUnpricedMessages(body);
    // The client's betas reach an Anthropic-format supplier (an OpenAI-format one has no such thing).
    const beta = anthropicBetas(c.req.header('anthropic-beta'));
    // Translated once, on the first OpenAI-format route, however many routes are tried.
    let translated: ChatCompletionRequest | undefined;
    const asChat = () => (translated ??= chatRequestFromMessages(body, { maxOutputTokens: c.get('manifest').models[body.model]?.max_output_tokens ?? null }));
    return runInference(c, deps, {
      model: body.model,
      modelType: 'chat',
      metadata: body.metadata,
      requestBytes: bytes,
      bound: { output: body.max_tokens, hiddenInput: hiddenInputTokens(body.messages, { tools: (body.tools?.length ?? 0) > 0 }) },
      formats: ['openai', 'anthropic'],
      upstream: (route, credential) =>
        route.format === 'anthropic' ? anthropicRequest(route, body, credential, { endpoint: 'messages', beta }) : openAiChatRequest(route, asChat(), credential),
      respond: (response, upstreamBody, route, onEnd) => {
        if (route.format === 'anthropic') {
          return body.stream
            ? { body: meterMessagesStream(upstreamBody, onEnd), contentType: response.headers.get('content-type') ?? SSE }
            : { body: meterJsonPassThrough(response, readMessageAnswer, onEnd), contentType: response.headers.get('content-type') ?? JSON_TYPE };
        }
        return body.stream
          ? { body: meterTranslatedStream(upstreamBody, chatStreamToMessages({ model: body.model }), onEnd), contentType: SSE }
          : {
              body: meterJsonTranslated(
                response,
                (j) => messageFromChatCompletion(j, { model: body.model }),
                () => errorPayload('anthropic', 'upstream_failed', 'The supplier sent an answer that could not be read.', { requestId: c.get('requestId') }),
                onEnd,
              ),
              contentType: JSON_TYPE,
            };
      },
    });
  };
}
