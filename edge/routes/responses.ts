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
import { responseObject, newResponseIds, type ResponseIds } from '../formats/responses-object.ts';
import { responsesToChat } from '../formats/responses-request.ts';
import { chatToResponse } from '../formats/responses-response.ts';
import { createResponsesStream } from '../formats/responses-stream.ts';
import { runInference } from '../inference.ts';
import { meterJsonTranslated } from '../meter-json.ts';
import { meter, type MeterResult } from '../metering.ts';
import { openAiChatRequest } from '../providers/openai.ts';
import type { EdgeEnv } from '../request-context.ts';
import { createSseSplitter, encodeSse, type SseEvent } from '../sse.ts';
import { parseBody } from '../validation.ts';

export function responsesRoute(deps: EdgeDeps): Handler<EdgeEnv> {
  return async (c) => {
    const { json, bytes } = await readJsonBody(c.req.raw, deps.maxRequestBytes);
    const body = parseBody(ResponsesRequest, json);
    const translated = responsesToChat(body);
    if (!translated.ok) throw new ApiError('invalid_request', translated.message, { param: translated.param });
    const ids = newResponseIds(deps.nowMs());
    return runInference(c, deps, {
      model: body.model,
      modelType: 'chat',
      metadata: body.metadata,
      requestBytes: bytes,
      // Anthropic-format routes: compose responsesToChat with the chat → Anthropic request
      // translator (edge/formats/, issue 4) here, and translate its answer to chat before the
      // respond step below; until then those routes are skipped.
      upstream: (route, credential) => (route.format === 'openai' ? openAiChatRequest(route, translated.chat, credential) : null),
      respond: (_response, upstreamBody, _route, onEnd) =>
        body.stream
          ? { body: responsesEventStream(upstreamBody, body, ids, onEnd), contentType: 'text/event-stream; charset=utf-8' }
          : { body: responsesJson(upstreamBody, body, ids, onEnd), contentType: 'application/json' },
    });
  };
}

function responsesJson(upstream: ReadableStream<Uint8Array>, request: ResponsesRequest, ids: ResponseIds, onEnd: (r: MeterResult) => void) {
  return meterJsonTranslated(
    upstream,
    (answer) => {
      if (answer === undefined) {
        const error = { code: 'server_error', message: 'The supplier sent an answer that could not be read.' };
        return { json: responseObject(request, ids, { status: 'failed', output: [], usage: null, error }), usage: null, outputEstimate: 0 };
      }
      const { response, usage, outputChars } = chatToResponse(request, ids, answer);
      return { json: response, usage, outputEstimate: Math.ceil(outputChars / 4) };
    },
    onEnd,
  );
}

function responsesEventStream(upstream: ReadableStream<Uint8Array>, request: ResponsesRequest, ids: ResponseIds, onEnd: (r: MeterResult) => void) {
  const splitter = createSseSplitter();
  const translator = createResponsesStream(request, ids);
  const translate = (events: SseEvent[]): string[] =>
    events.flatMap((e) => {
      if (e.data === '' || e.data === '[DONE]') return [];
      try {
        return translator.chunk(JSON.parse(e.data));
      } catch {
        return [];
      }
    });
  return meter(
    upstream,
    {
      chunk: (bytes) => encodeSse(translate(splitter.push(bytes))),
      end: () => encodeSse([...translate(splitter.end()), ...translator.end()]),
      failure: () => encodeSse(translator.failure('The supplier failed mid-stream.')),
      result: () => ({ usage: translator.usage, outputEstimate: translator.deltas }),
    },
    onEnd,
  );
}
