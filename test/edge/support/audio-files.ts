// Audio uploads for edge tests: WAV files whose header fields a test chooses (including ones that
// contradict each other), and the multipart body a transcription request carries.

export interface WavSpec {
  /** Bytes of sample data after the header. */
  dataBytes: number;
  formatTag?: number;
  sampleRate?: number;
  channels?: number;
  bits?: number;
  /** Default: sampleRate × channels × bits / 8, as the RIFF spec defines it. */
  byteRate?: number;
  /** A chunk of this many bytes (LIST) between fmt and data. */
  listBytes?: number;
  /** What the data chunk's size field says; default the real size. */
  dataSizeField?: number;
}

/** A RIFF/WAVE file of silence; by default 16 kHz, 16-bit, mono PCM (32,000 bytes a second). */
export function wavFile(spec: WavSpec): Uint8Array {
  const { dataBytes, formatTag = 1, sampleRate = 16_000, channels = 1, bits = 16, listBytes = 0 } = spec;
  const blockAlign = (channels * bits) / 8;
  const header = 12 + 24 + (listBytes > 0 ? 8 + listBytes : 0) + 8;
  const bytes = new Uint8Array(header + dataBytes);
  const view = new DataView(bytes.buffer);
  const ascii = (at: number, s: string) => [...s].forEach((ch, i) => view.setUint8(at + i, ch.charCodeAt(0)));
  ascii(0, 'RIFF');
  view.setUint32(4, bytes.byteLength - 8, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, formatTag, true);
  view.setUint16(22, channels, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, spec.byteRate ?? sampleRate * blockAlign, true);
  view.setUint16(32, blockAlign, true);
  view.setUint16(34, bits, true);
  let at = 36;
  if (listBytes > 0) {
    ascii(at, 'LIST');
    view.setUint32(at + 4, listBytes, true);
    at += 8 + listBytes;
  }
  ascii(at, 'data');
  view.setUint32(at + 4, spec.dataSizeField ?? dataBytes, true);
  return bytes;
}

export function transcriptionUpload(model: string, file: Uint8Array, fields: Record<string, string> = {}): { body: Uint8Array; headers: Record<string, string> } {
  const boundary = 'taasaudioboundary';
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const [name, value] of Object.entries({ model, ...fields })) {
    parts.push(enc.encode(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  parts.push(enc.encode(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`), file, enc.encode(`\r\n--${boundary}--\r\n`));
  const body = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    body.set(p, offset);
    offset += p.byteLength;
  }
  return { body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}
