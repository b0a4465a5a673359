// POST /v1/audio/speech: JSON in, audio bytes out, streamed through unbuffered as the supplier
// sends them. The supplier reports no length, so seconds are estimated from the bytes that
// passed (or the input text for SSE) and flagged, and never past the bound admission reserved,
// which follows `speed` (edge/audio-seconds.ts has the rule).

import type { Handler } from 'hono';
import { SpeechRequest } from '../../shared/openai-audio.ts';
import type { EdgeDeps } from '../app.ts';
import { billableSeconds, speechBoundSeconds, speechSeconds, speechSecondsFromText } from '../audio-seconds.ts';
import { readJsonBody } from '../bounded-body.ts';
import { runInference } from '../inference.ts';
import { meter, type OnEnd } from '../metering.ts';
import { openAiJsonRequest } from '../providers/openai-endpoints.ts';
import type { EdgeEnv } from '../request-context.ts';
import { parseBody } from '../validation.ts';

function meterAudio(body: ReadableStream<Uint8Array>, audio: { seconds: (bytes: number) => number; boundSeconds: number; onClamped: (seconds: number) => void }, onEnd: OnEnd) {
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
      // A client that leaves early pays for the audio that reached it, no more; a supplier that
      // sends past the bound is billed at the bound (what admission reserved).
      result: () => {
        const measured = audio.seconds(bytes);
        const billed = billableSeconds(measured, audio.boundSeconds);
        if (billed.clamped) audio.onClamped(measured);
        return { usage: { input: 0, output: 0, cachedInput: 0, reasoning: 0, audioSeconds: billed.seconds, estimated: true }, outputEstimate: 0 };
      },
    },
    onEnd,
  );
}

export function audioSpeechRoute(deps: EdgeDeps): Handler<EdgeEnv> {
  return async (c) => {
    const { json, bytes } = await readJsonBody(c.req.raw, deps.maxRequestBytes);
    const body = parseBody(SpeechRequest, json);
    const format = body.response_format ?? 'mp3';
    const speed = { speed: body.speed ?? 1 };
    const boundSeconds = speechBoundSeconds(body.input.length, speed);
    return runInference(c, deps, {
      model: body.model,
      modelType: 'speech',
      requestBytes: bytes,
      bound: { output: 0, audioSeconds: boundSeconds },
      formats: ['openai'],
      upstream: (route, credential) => openAiJsonRequest(route, 'audio/speech', body, credential),
      respond: (response, upstreamBody, route, onEnd) => {
        const contentType = response.headers.get('content-type') ?? 'audio/mpeg';
        const sse = contentType.startsWith('text/event-stream');
        const seconds = sse ? () => speechSecondsFromText(body.input.length, speed) : (n: number) => speechSeconds(format, n);
        const onClamped = (measured: number) =>
          deps.log('warn', 'supplier sent more audio than was reserved: billed the reservation', {
            request_id: c.get('requestId'),
            supplier: route.supplier_id,
            model: body.model,
            measured_seconds: measured,
            bound_seconds: boundSeconds,
          });
        return { body: meterAudio(upstreamBody, { seconds, boundSeconds, onClamped }, onEnd), contentType };
      },
    });
  };
}
