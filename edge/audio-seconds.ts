// Audio seconds (PRODUCT.md §5 bills audio per second): the most a request can be billed, which
// admission reserves (edge/admission.ts), and the estimate when the supplier's answer does not say.
// The rule, kept in the README: an uploaded PCM WAV by its sample rate × channels × sample size;
// any other upload at 128 kbit/s (16,000 bytes a second, a common MP3/M4A rate); generated speech
// by its byte count at the format's rate (pcm and wav are OpenAI's 24 kHz 16-bit mono, exact);
// speech sent as SSE (base64 in JSON, no fixed rate) by its input at 15 characters a second (about
// 150 words a minute) at the speed asked. Every such count is flagged estimated, rounded up to the
// millisecond, and never above the request's bound.

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

/** Seconds billed: at most the request's bound (what admission reserved), so no budget is overspent. */
export function billableSeconds(seconds: number, boundSeconds: number): { seconds: number; clamped: boolean } {
  const rounded = roundSeconds(seconds);
  return rounded > boundSeconds ? { seconds: boundSeconds, clamped: true } : { seconds: rounded, clamped: false };
}

// Speech: a request's bound. No script speaks slower than 2 characters (UTF-16 units) a second at
// speed 1 — Chinese and Japanese run ~4–5, and digits, acronyms and symbols read out in words ~2–3 —
// and `speed` (0.25–4, checked by the body's schema) stretches all of it, the 10 s of lead-in and
// trailing silence too. A per-script rate would reserve less for Latin text but be wrong for
// "FBI 555-0100"; what the supplier sends past the bound is not billed (billableSeconds).
const SLOWEST_SPEECH_CHARACTERS_PER_SECOND = 2;
const SPEECH_SILENCE_SECONDS = 10;

export function speechBoundSeconds(characters: number, options: { speed: number }): number {
  return roundSeconds((characters / SLOWEST_SPEECH_CHARACTERS_PER_SECOND + SPEECH_SILENCE_SECONDS) / options.speed);
}

export function speechSeconds(format: SpeechFormat, bytes: number): number {
  return roundSeconds(bytes / BYTES_PER_SECOND[format]);
}

export function speechSecondsFromText(characters: number, options: { speed: number }): number {
  return roundSeconds(characters / SPEECH_CHARACTERS_PER_SECOND / options.speed);
}

/**
 * An upload's bound: its bytes at 8 kbit/s. Lower-rate audio exists (Opus down to 6 kbit/s, and
 * DTX silence far below), and no rate covers all of it: a supplier's report past the bound is
 * billed at the bound and flagged (routes/audio-transcriptions.ts), so budgets stay exact.
 */
export function uploadBoundSeconds(bytes: number): number {
  return bytes / 1000;
}

// The floor of an estimate: a WAV header is the client's word, and a consistent one claiming a
// dense format (192 kHz, 8 channels, 64-bit) would make 25 MB of speech cost about 2 s while the
// supplier still receives and decodes all of it. No estimate goes below the bytes at 48 kHz stereo
// 32-bit (384,000 bytes a second), the densest format speech is commonly recorded in; a denser
// file is billed as if it were that (its exact length is billed when the supplier reports one).
const FLOOR_BYTES_PER_SECOND = 384_000;

/** PCM-family WAVE format tags (RFC 2361): their byte rate follows from the format fields. */
const PCM_BITS: Record<number, readonly number[]> = {
  0x0001: [8, 16, 24, 32], // PCM
  0x0003: [32, 64], // IEEE float
  0x0006: [8], // A-law
  0x0007: [8], // µ-law
};
const EXTENSIBLE = 0xfffe;
/** Chunks read before `data` at most: an upload of tiny chunks must not cost a walk of millions. */
const MAX_CHUNKS = 64;

type WavReading =
  | { kind: 'pcm'; seconds: number }
  /** Not a RIFF/WAVE, a compressed codec (its byte rate is the encoder's claim), implausible fields, or no fmt before data. */
  | { kind: 'opaque' };

function readWav(file: Uint8Array): WavReading {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const tag = (at: number) => String.fromCharCode(file[at]!, file[at + 1]!, file[at + 2]!, file[at + 3]!);
  if (file.byteLength < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') return { kind: 'opaque' };
  let format: { tag: number; channels: number; sampleRate: number; bits: number } | null = null;
  let at = 12;
  for (let chunk = 0; chunk < MAX_CHUNKS && at + 8 <= file.byteLength; chunk++) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > file.byteLength) return { kind: 'opaque' };
      let formatTag = view.getUint16(body, true);
      // WAVE_FORMAT_EXTENSIBLE names its codec in the first two bytes of its SubFormat GUID.
      if (formatTag === EXTENSIBLE) formatTag = size >= 40 && body + 26 <= file.byteLength ? view.getUint16(body + 24, true) : 0;
      format = { tag: formatTag, channels: view.getUint16(body + 2, true), sampleRate: view.getUint32(body + 4, true), bits: view.getUint16(body + 14, true) };
    } else if (id === 'data') {
      if (!format || !(format.tag in PCM_BITS)) return { kind: 'opaque' };
      const { tag: formatTag, channels, sampleRate, bits } = format;
      // Ranges a speech recording has; 8 kHz 8-bit mono (8,000 bytes a second) is also the lowest
      // rate that keeps an exact length within the upload's bound (1,000 bytes a second).
      if (!(channels >= 1 && channels <= 8 && sampleRate >= 8_000 && sampleRate <= 192_000 && PCM_BITS[formatTag]!.includes(bits))) return { kind: 'opaque' };
      // The rate follows from the format fields, which the supplier's decoder reads too. The
      // header's own byte_rate (and block align) is not used: it is the client's word, and a
      // wrong one only steered the bill (0xFFFFFFFF made 20 MB cost 0.005 s). A client that lies
      // in the format fields instead changes how the supplier hears its audio as well.
      const bytesPerSecond = (sampleRate * channels * bits) / 8;
      // 0 and 0xFFFFFFFF are what streaming writers leave in a size they could not go back to fix.
      const present = file.byteLength - body;
      const bytes = size === 0 || size === 0xffff_ffff ? present : Math.min(size, present);
      return { kind: 'pcm', seconds: bytes / bytesPerSecond };
    }
    at = body + size + (size % 2); // chunks are word-aligned
  }
  return { kind: 'opaque' };
}

/** An upload's estimated length, within [floor, bound]. */
export function uploadSeconds(file: Uint8Array): number {
  const wav = readWav(file);
  const seconds = wav.kind === 'pcm' ? wav.seconds : file.byteLength / UPLOAD_BYTES_PER_SECOND;
  const floor = file.byteLength / FLOOR_BYTES_PER_SECOND;
  return billableSeconds(Math.max(seconds, floor), uploadBoundSeconds(file.byteLength)).seconds;
}
