// The speech body and the transcription answer as far as the gateway reads them
// (https://platform.openai.com/docs/api-reference/audio).

import { z } from 'zod';
import { ModelName } from './model-name.ts';

export const SpeechFormat = z.enum(['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm']);
export type SpeechFormat = z.infer<typeof SpeechFormat>;

export const SpeechRequest = z.looseObject({
  model: ModelName,
  input: z.string().min(1).max(4096),
  voice: z.union([z.string().min(1), z.looseObject({ id: z.string() })]),
  response_format: SpeechFormat.optional(),
  speed: z.number().min(0.25).max(4).optional(),
  stream_format: z.enum(['audio', 'sse']).optional(),
});
export type SpeechRequest = z.infer<typeof SpeechRequest>;

/** What a transcription answer may say about its length: verbose_json's `duration`, or `usage.seconds`. */
export const TranscriptionSeconds = z.looseObject({
  duration: z.number().nonnegative().optional(),
  usage: z.looseObject({ type: z.string().optional(), seconds: z.number().nonnegative().optional() }).optional(),
});
