// Audio seconds when the supplier's answer does not say (PRODUCT.md §5 bills audio per second).
// The rule, kept in the README: an uploaded WAV by its header's byte rate; any other upload at
// 128 kbit/s (16,000 bytes a second, a common MP3/M4A rate); generated speech by its byte count at
// the format's rate (pcm and wav are OpenAI's 24 kHz 16-bit mono, exact); speech sent as SSE
// (base64 in JSON, no fixed rate) by its input at 15 characters a second (about 150 words a
// minute). Every such count is flagged estimated. Rounded up to the millisecond.

import type { SpeechFormat } from '../shared/openai-audio.ts';

const BYTES_PER_SECOND: Record<SpeechFormat, number> = {
  mp3: 16_000, // 128 kbit/s
  aac: 16_000, // 128 kbit/s
  opus: 4_000, // 32 kbit/s
  flac: 24_000, // about half of 24 kHz 16-bit PCM
  wav: 48_000, // 24 kHz × 16 bit × mono
  pcm: 48_000,
};

export const SPEECH_CHARACTERS_PER_SECOND = 15;
const UPLOAD_BYTES_PER_SECOND = 16_000;

export const roundSeconds = (seconds: number): number => Math.ceil(Math.max(0, seconds) * 1000) / 1000;

export function speechSeconds(format: SpeechFormat, bytes: number): number {
  return roundSeconds(bytes / BYTES_PER_SECOND[format]);
}

export function speechSecondsFromText(characters: number): number {
  return roundSeconds(characters / SPEECH_CHARACTERS_PER_SECOND);
}

/** An uploaded file's length: a RIFF/WAVE header's byte rate when it has one, else 128 kbit/s. */
export function uploadSeconds(file: Uint8Array): number {
  const ascii = (at: number) => String.fromCharCode(...file.subarray(at, at + 4));
  if (file.byteLength > 44 && ascii(0) === 'RIFF' && ascii(8) === 'WAVE' && ascii(12) === 'fmt ') {
    const byteRate = new DataView(file.buffer, file.byteOffset, file.byteLength).getUint32(28, true);
    if (byteRate > 0) return roundSeconds((file.byteLength - 44) / byteRate);
  }
  return roundSeconds(file.byteLength / UPLOAD_BYTES_PER_SECOND);
}
