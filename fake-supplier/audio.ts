// The audio answers of the fake supplier (https://platform.openai.com/docs/api-reference/audio):
// a transcription as `{text, usage}` JSON, verbose_json with `duration`, or plain text; speech as
// audio bytes whose length follows the input (15 characters a second at 128 kbit/s for mp3, the
// rates the edge estimates with), so a test can predict the seconds billed.

export const SPEECH_CONTENT_TYPES: Record<string, string> = {
  mp3: 'audio/mpeg',
  opus: 'audio/ogg',
  aac: 'audio/aac',
  flac: 'audio/flac',
  wav: 'audio/wav',
  pcm: 'audio/pcm',
};
const BYTES_PER_SECOND: Record<string, number> = { mp3: 16_000, aac: 16_000, opus: 4_000, flac: 24_000, wav: 48_000, pcm: 48_000 };

/** A WAV file's length from its header, else the bytes at 128 kbit/s. */
export function audioDuration(file: Uint8Array): number {
  const ascii = (at: number) => Buffer.from(file.subarray(at, at + 4)).toString('latin1');
  if (file.byteLength > 44 && ascii(0) === 'RIFF' && ascii(8) === 'WAVE') {
    const byteRate = Buffer.from(file).readUInt32LE(28);
    if (byteRate > 0) return Math.round(((file.byteLength - 44) / byteRate) * 1000) / 1000;
  }
  return Math.round((file.byteLength / 16_000) * 1000) / 1000;
}

export function transcriptionAnswer(file: Uint8Array, responseFormat: string): { contentType: string; body: string } {
  const duration = audioDuration(file);
  const text = `Fake transcript of ${file.byteLength} bytes.`;
  if (responseFormat === 'text') return { contentType: 'text/plain; charset=utf-8', body: `${text}\n` };
  if (responseFormat === 'srt' || responseFormat === 'vtt') {
    return { contentType: 'text/plain; charset=utf-8', body: `1\n00:00:00,000 --> 00:00:0${Math.min(9, Math.ceil(duration))},000\n${text}\n` };
  }
  if (responseFormat === 'verbose_json') {
    const segment = { id: 0, seek: 0, start: 0, end: duration, text, tokens: [50364], temperature: 0, avg_logprob: -0.2, compression_ratio: 1, no_speech_prob: 0 };
    return { contentType: 'application/json', body: JSON.stringify({ task: 'transcribe', language: 'english', duration, text, segments: [segment] }) };
  }
  return { contentType: 'application/json', body: JSON.stringify({ text, usage: { type: 'duration', seconds: Math.ceil(duration) } }) };
}

/** The speech bytes for an input: its seconds at 15 characters a second, at the format's rate. */
export function speechBytes(input: string, format: string): Uint8Array {
  const rate = BYTES_PER_SECOND[format] ?? BYTES_PER_SECOND.mp3!;
  const length = Math.round((input.length / 15) * rate);
  const bytes = new Uint8Array(length);
  // An MPEG frame sync (0xFFFB) every 417 bytes: looks like MP3 to a sniffer, carries nothing.
  for (let i = 0; i + 1 < length; i += 417) {
    bytes[i] = 0xff;
    bytes[i + 1] = 0xfb;
  }
  return bytes;
}
