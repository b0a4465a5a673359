// POST /v1/audio/transcriptions: a multipart upload (`file`, `model`, optional fields), read once
// with a size limit (413 above it) so a failover can resend it, forwarded to the supplier with its
// own model name; the answer (JSON or text) passes through. Billed per second: verbose_json's
// `duration` or `usage.seconds` when the supplier says, else the upload's estimated length, and
// never past the bound admission reserved (edge/audio-seconds.ts).

import type { Handler } from 'hono';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import { ModelName } from '../../shared/model-name.ts';
import { TranscriptionSeconds } from '../../shared/openai-audio.ts';
import type { EdgeDeps } from '../app.ts';
import { billableSeconds, uploadBoundSeconds, uploadSeconds } from '../audio-seconds.ts';
import { readBounded } from '../bounded-body.ts';
import { runInference } from '../inference.ts';
import { meterJsonPassThrough, type JsonReading } from '../meter-json.ts';
import { openAiMultipartRequest } from '../providers/openai-endpoints.ts';
import type { EdgeEnv } from '../request-context.ts';
import { parseBody } from '../validation.ts';

/** The multipart `model` field, checked as every JSON surface checks its model. */
const UploadModel = z.object({ model: ModelName });

/** OpenAI's upload limit for audio files. */
export const DEFAULT_MAX_AUDIO_BYTES = 25 * 1024 * 1024;

async function readUpload(request: Request, maxBytes: number): Promise<{ form: FormData; bytes: number; model: string; file: File }> {
  const type = request.headers.get('content-type') ?? '';
  if (!type.toLowerCase().startsWith('multipart/form-data')) {
    throw new ApiError('unsupported_media_type', 'Send the audio as multipart/form-data with the fields file and model.');
  }
  const bytes = await readBounded(request, maxBytes);
  if (!bytes) throw new ApiError('payload_too_large', `The upload exceeds ${maxBytes} bytes.`);
  let form: FormData;
  try {
    form = await new Response(bytes, { headers: { 'content-type': type } }).formData();
  } catch {
    throw new ApiError('invalid_request', 'The multipart/form-data body could not be read.');
  }
  const model = form.get('model');
  const file = form.get('file');
  if (typeof model !== 'string' || model === '') throw new ApiError('validation_failed', "Invalid value for 'model': a model id is required.", { param: 'model' });
  parseBody(UploadModel, { model });
  if (typeof file === 'string' || file === null) throw new ApiError('validation_failed', "Invalid value for 'file': an audio file is required.", { param: 'file' });
  return { form, bytes: bytes.byteLength, model, file };
}

export interface TranscriptionReading extends JsonReading {
  /** The seconds the supplier reported, when they were past the bound and billed at it. */
  clampedFrom: number | null;
}

export function readTranscriptionUsage(answer: unknown, upload: { estimatedSeconds: number; boundSeconds: number }): TranscriptionReading {
  const parsed = TranscriptionSeconds.safeParse(answer);
  const reported = parsed.success ? (parsed.data.duration ?? (parsed.data.usage?.type === 'duration' ? parsed.data.usage.seconds : undefined)) : undefined;
  // Token-billed transcription models (usage.type 'tokens') report tokens too: keep them.
  const tokens = (parsed.success ? parsed.data.usage : undefined) as { input_tokens?: unknown; output_tokens?: unknown } | undefined;
  const count = (v: unknown) => (Number.isInteger(v) && (v as number) >= 0 ? (v as number) : 0);
  // A report past the reservation (audio under 8 kbit/s: low-rate Opus, DTX silence) is billed at
  // it and flagged, as usage-event.ts does with absurd counts: a budget is never overspent, and
  // the difference with the supplier's invoice can be found.
  const billed = reported === undefined ? null : billableSeconds(reported, upload.boundSeconds);
  const usage = {
    input: count(tokens?.input_tokens),
    output: count(tokens?.output_tokens),
    cachedInput: 0,
    reasoning: 0,
    audioSeconds: billed?.seconds ?? upload.estimatedSeconds,
    estimated: billed === null || billed.clamped,
  };
  return { usage, outputEstimate: 0, clampedFrom: billed?.clamped && reported !== undefined ? reported : null };
}

export function audioTranscriptionsRoute(deps: EdgeDeps): Handler<EdgeEnv> {
  return async (c) => {
    const { form, bytes, model, file } = await readUpload(c.req.raw, deps.maxAudioBytes ?? DEFAULT_MAX_AUDIO_BYTES);
    const fileBytes = new Uint8Array(await file.arrayBuffer());
    const estimatedSeconds = uploadSeconds(fileBytes);
    const boundSeconds = uploadBoundSeconds(fileBytes.byteLength);
    return runInference(c, deps, {
      model,
      modelType: 'transcription',
      requestBytes: bytes,
      bound: { audioSeconds: boundSeconds },
      formats: ['openai'],
      upstream: (route, credential) => openAiMultipartRequest(route, 'audio/transcriptions', form, credential),
      respond: (response, upstreamBody, route, onEnd) => ({
        // text, srt and vtt answers are not JSON: they read as "not reported" and are estimated.
        body: meterJsonPassThrough(
          response,
          (answer) => {
            const reading = readTranscriptionUsage(answer, { estimatedSeconds, boundSeconds });
            if (reading.clampedFrom !== null) {
              deps.log('warn', 'supplier reported more audio seconds than were reserved: billed the reservation, flagged estimated', {
                request_id: c.get('requestId'),
                supplier: route.supplier_id,
                model,
                reported_seconds: reading.clampedFrom,
                bound_seconds: boundSeconds,
              });
            }
            return reading;
          },
          onEnd,
        ),
        contentType: response.headers.get('content-type') ?? 'application/json',
      }),
    });
  };
}
