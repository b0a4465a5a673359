// POST /v1/audio/speech: JSON in, audio bytes out, streamed through unbuffered as the supplier
// sends them. The supplier reports no length, so seconds are estimated from the bytes that
// passed (or the input text for SSE) and flagged (edge/audio-seconds.ts has the rule).

import type { Handler } from 'hono';
import { SpeechRequest } from '../../shared/openai-audio.ts';
import type { EdgeDeps } from '../app.ts';
import { speechSeconds, speechSecondsFromText } from '../audio-seconds.ts';
import { readJsonBody } from '../bounded-body.ts';
import { runInference } from '../inference.ts';
import { meter, type OnEnd } from '../metering.ts';
import { openAiJsonRequest } from '../providers/openai-endpoints.ts';
import type { EdgeEnv } from '../request-context.ts';
import { parseBody } from '../validation.ts';

function meterAudio(body: ReadableStream<Uint8Array>, seconds: (bytes: number) => number, onEnd: OnEnd) {
  let bytes = 0;
  return meter(
    body,
    {
      chunk(chunk) {
        bytes += chunk.byteLength;
        return chunk;
      },
      end: () => null,
      failure: () => null,
      // A client that leaves early pays for the audio that reached it, no more.
      result: () => ({ usage: { input: 0, output: 0, cachedInput: 0, reasoning: 0, audioSeconds: seconds(bytes), estimated: true }, outputEstimate: 0 }),
    },
    onEnd,
  );
}

export function audioSpeechRoute(deps: EdgeDeps): Handler<EdgeEnv> {
  return async (c) => {
    const { json, bytes } = await readJsonBody(c.req.raw, deps.maxRequestBytes);
    const body = parseBody(SpeechRequest, json);
    const format = body.response_format ?? 'mp3';
    return runInference(c, deps, {
      model: body.model,
      modelType: 'speech',
      requestBytes: bytes,
      // Billed per second of audio: at most 3 characters a second (a quarter of normal speed) plus 10 s.
      bound: { output: 0, audioSeconds: body.input.length / 3 + 10 },
      formats: ['openai'],
      upstream: (route, credential) => openAiJsonRequest(route, 'audio/speech', body, credential),
      respond: (response, upstreamBody, _route, onEnd) => {
        const contentType = response.headers.get('content-type') ?? 'audio/mpeg';
        const sse = contentType.startsWith('text/event-stream');
        const seconds = sse ? () => speechSecondsFromText(body.input.length) : (n: number) => speechSeconds(format, n);
        return { body: meterAudio(upstreamBody, seconds, onEnd), contentType };
      },
    });
  };
}
