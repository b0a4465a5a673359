// POST /v1/responses (and /v1/codex/responses): the OpenAI Responses surface, served by
// translating to chat completions for the route's supplier and translating the answer back.
// `store` is accepted and ignored (the answer says `store: false`): the gateway keeps no
// conversation state, and refusing the API's default would break clients that never read a
// stored response; continuing one (`previous_response_id`) is the clear 400 instead.

import type { Handler } from 'hono';
import { ApiError } from '../../shared/errors.ts';
import { ResponsesRequest } from '../../shared/openai-responses.ts';
import type { EdgeDeps } from '../app.ts';
import { readJsonBody } from '../bounded-body.ts';
import { hiddenInputTokens } from '../hidden-input.ts';
import { responseObject, newResponseIds, type ResponseIds } from '../formats/responses-object.ts';
import { responsesToChat } from '../formats/responses-request.ts';
import { chatToResponse } from '../formats/responses-response.ts';
import { createResponsesStream } from '../formats/responses-stream.ts';
import { runInference } from '../inference.ts';
import { meterJsonTranslated, type TranslatedAnswer } from '../meter-json.ts';
import { meter, type OnEnd } from '../metering.ts';
import { openAiChatRequest } from '../providers/openai.ts';
import type { EdgeEnv } from '../request-context.ts';
import { createSseSplitter, encodeSse, parseSseEvent, sseHeartbeat, type SseEvent } from '../sse.ts';
import type { StreamTranslator } from '../formats/stream-translator.ts';
import { FALLBACK_MAX_TOKENS, messagesRequestFromChat, wantsJsonAnswer } from '../formats/chat-to-messages-request.ts';
import { chatCompletionFromMessage } from '../formats/message-to-chat-completion.ts';
import { messagesStreamToChat } from '../formats/messages-stream-to-chat.ts';
import { anthropicRequest } from '../providers/anthropic.ts';
import { parseBody } from '../validation.ts';

export function responsesRoute(deps: EdgeDeps): Handler<EdgeEnv> {
  return async (c) => {
    const { json, bytes } = await readJsonBody(c.req.raw, deps.maxRequestBytes);
    const body = parseBody(ResponsesRequest, json);
    const translated = responsesToChat(body);
    if (!translated.ok) throw new ApiError('invalid_request', translated.message, { param: translated.param });
    const ids = newResponseIds(deps.nowMs());
    const models = c.get('manifest').models;
    const maxOutput = Object.hasOwn(models, body.model) ? models[body.model]!.max_output_tokens : null;
    // Anthropic-format routes: Responses → chat → Messages on the way out, and back the same way.
    let asMessages: Record<string, unknown> | undefined;
    const messagesRequest = () => (asMessages ??= messagesRequestFromChat(translated.chat, { defaultMaxTokens: maxOutput ?? FALLBACK_MAX_TOKENS }));
    const created = Math.floor(deps.nowMs() / 1000);
    // A json_schema text.format reaches a Claude model as a forced tool: its input is the answer.
    const jsonAnswer = wantsJsonAnswer(translated.chat);
    return runInference(c, deps, {
      model: body.model,
      modelType: 'chat',
      metadata: body.metadata,
      requestBytes: bytes,
      bound: { output: body.max_output_tokens ?? null, hiddenInput: hiddenInputTokens(body.input, { tools: (body.tools?.length ?? 0) > 0 || jsonAnswer }) },
      formats: ['openai', 'anthropic'],
      upstream: (route, credential) =>
        route.format === 'openai' ? openAiChatRequest(route, translated.chat, credential) : anthropicRequest(route, messagesRequest(), credential, { endpoint: 'messages' }),
      respond: (response, upstreamBody, route, onEnd) => {
        const viaMessages = route.format === 'anthropic';
        return body.stream
          ? {
              body: responsesEventStream(upstreamBody, body, ids, onEnd, viaMessages ? messagesStreamToChat({ model: body.model, created, includeUsage: true, requestId: c.get('requestId'), jsonAnswer }) : null),
              contentType: 'text/event-stream; charset=utf-8',
            }
          : { body: responsesJson(response, body, ids, onEnd, viaMessages ? (m) => chatCompletionFromMessage(m, { model: body.model, created, jsonAnswer }) : null), contentType: 'application/json' };
      },
    });
  };
}

/** `toChat`: the supplier answered in another format (Anthropic); it becomes a chat completion first. */
function responsesJson(
  upstream: Response,
  request: ResponsesRequest,
  ids: ResponseIds,
  onEnd: OnEnd,
  toChat: ((answer: Record<string, unknown>) => TranslatedAnswer) | null,
) {
  return meterJsonTranslated(
    upstream,
    (answer) => {
      const chat = toChat ? toChat(answer) : null;
      const { response, usage, outputChars } = chatToResponse(request, ids, chat ? chat.body : answer);
      // Usage as the supplier reported it (cache counts of an Anthropic answer included).
      return { body: response, usage: chat?.usage ?? usage, outputEstimate: Math.ceil(outputChars / 4) };
    },
    () => {
      const error = { code: 'server_error', message: 'The supplier sent an answer that could not be read.' };
      return responseObject(request, ids, { status: 'failed', output: [], usage: null, error });
    },
    onEnd,
  );
}

/** `toChat`: the supplier streams another format (Anthropic); each event becomes chat chunks first. */
function responsesEventStream(
  upstream: ReadableStream<Uint8Array>,
  request: ResponsesRequest,
  ids: ResponseIds,
  onEnd: OnEnd,
  toChat: StreamTranslator | null,
) {
  const splitter = createSseSplitter();
  const translator = createResponsesStream(request, ids);
  const fromChat = (events: SseEvent[]): string[] =>
    events.flatMap((e) => {
      if (e.data === '' || e.data === '[DONE]') return [];
      try {
        return translator.chunk(JSON.parse(e.data));
      } catch {
        return [];
      }
    });
  // Chat chunks produced by `toChat` are events like any other: parse them the same way.
  const asChat = (lines: string[]) => lines.map(parseSseEvent);
  const translate = (events: SseEvent[]): string[] => fromChat(toChat ? asChat(events.flatMap((e) => toChat.push(e))) : events);
  return meter(
    upstream,
    {
      chunk: (bytes) => encodeSse(translate(splitter.push(bytes))),
      end: () => encodeSse([...translate(splitter.end()), ...(toChat ? fromChat(asChat(toChat.end())) : []), ...translator.end()]),
      failure: () => encodeSse(translator.failure('The supplier failed mid-stream.')),
      // A Claude stream cut before its final usage chunk still reported its input (message_start):
      // billed as reported, with the output estimated (anthropicStreamUsage).
      result: () => ({ usage: translator.usage ?? toChat?.usage() ?? null, outputEstimate: translator.deltas }),
      heartbeat: sseHeartbeat,
    },
    onEnd,
  );
}
