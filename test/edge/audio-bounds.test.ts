// Audio is billed per second and admission reserves a bound before the supplier is called: the
// seconds billed never exceed what was reserved (whatever the supplier reports or sends), a WAV
// header cannot steer its own bill, and speech's bound follows `speed` and slow scripts.
import { describe, expect, it } from 'vitest';
import { transcriptionUpload, wavFile } from './support/audio-files.ts';
import type { TestEdge } from './support/test-edge.ts';
import { buildPricing } from './support/manifest-builder.ts';
import { scenario } from './support/scenario.ts';

// Only seconds are priced, at 1,000 µUSD each: a cost in µUSD is the billed seconds × 1,000.
const pricing = { ...buildPricing(0, 0), per_second: 1_000 };
const PER_SECOND = 1_000;

/** The money the edge asked to reserve for the scenario's one request (its worst case). */
function reservedMicros(edge: TestEdge): number {
  const acquires = edge.grants.calls.flatMap((c) => c.acquire ?? []);
  expect(acquires.length).toBeGreaterThan(0);
  return acquires[0]!.money.need;
}

async function transcribe(file: Uint8Array, reply: () => Response, fields: Record<string, string> = { response_format: 'text' }) {
  const s = await scenario({ model: { type: 'transcription', pricing } });
  s.edge.supplier.script(s.model.routes[0]!, async () => reply());
  const { body, headers } = transcriptionUpload(s.model.id, file, fields);
  const res = await s.edge.send('/v1/audio/transcriptions', { key: s.key.token, body, headers });
  const answer = await res.text();
  await s.edge.settle();
  return { s, res, answer, event: s.edge.events()[0]! };
}

const text = () => new Response('hello\n', { headers: { 'content-type': 'text/plain' } });

describe('transcription seconds estimated from the upload', () => {
  it("bills a PCM WAV by its format fields whatever its header's byte rate says", async () => {
    // 2 MB of 16 kHz 16-bit mono (65.536 s): byte_rate 0xFFFFFFFF billed it 0.001 s, 1 billed it 2M s.
    for (const byteRate of [0xffff_ffff, 1, 16_000]) {
      const { s, res, event } = await transcribe(wavFile({ dataBytes: 2 * 1024 * 1024, byteRate }), text);
      expect(res.status).toBe(200);
      expect(event).toMatchObject({ audio_seconds: 65.536, estimated: true });
      expect(event.audio_seconds! * PER_SECOND).toBeLessThanOrEqual(reservedMicros(s.edge));
    }
  });

  it('bills a WAV with implausible format fields (0 channels, 1 kHz, 12-bit) like any upload, at 128 kbit/s', async () => {
    for (const spec of [{ channels: 0 }, { sampleRate: 1_000 }, { bits: 12 }]) {
      const { res, event } = await transcribe(wavFile({ dataBytes: 64_000, ...spec }), text);
      expect(res.status).toBe(200);
      // 64,000 bytes of data plus the 44-byte header at 16,000 bytes a second.
      expect(event).toMatchObject({ audio_seconds: 4.003, estimated: true });
    }
  });

  it('bills a PCM WAV by its format fields, reading past chunks before its data and a streaming writer\'s size placeholder', async () => {
    const listed = await transcribe(wavFile({ dataBytes: 96_000, listBytes: 1_000 }), text);
    expect(listed.event).toMatchObject({ status: 200, audio_seconds: 3, estimated: true });
    const streamed = await transcribe(wavFile({ dataBytes: 64_000, dataSizeField: 0xffff_ffff }), text);
    expect(streamed.event).toMatchObject({ audio_seconds: 2, estimated: true });
    const stereo = await transcribe(wavFile({ dataBytes: 88_200, sampleRate: 44_100, channels: 2, bits: 16 }), text);
    expect(stereo.event).toMatchObject({ audio_seconds: 0.5, estimated: true });
  });

  it('never bills a consistent but implausibly dense WAV below the bytes at 48 kHz stereo 32-bit', async () => {
    // 192 kHz × 8 channels × 64-bit float: 768,000 bytes are 0.0625 s by the header.
    const file = wavFile({ dataBytes: 768_000, formatTag: 3, sampleRate: 192_000, channels: 8, bits: 64 });
    const { event, s } = await transcribe(file, text);
    expect(event).toMatchObject({ status: 200, audio_seconds: 2.001, estimated: true });
    expect(event.audio_seconds! * PER_SECOND).toBeLessThanOrEqual(reservedMicros(s.edge));
  });

  it('bills a compressed WAV at 128 kbit/s, not at the byte rate its header claims', async () => {
    // IMA ADPCM claiming 4 MB a second: its byte rate is the encoder's word, not derivable.
    const file = wavFile({ dataBytes: 160_000, formatTag: 0x11, bits: 4, byteRate: 4_000_000 });
    const { event } = await transcribe(file, text);
    expect(event).toMatchObject({ status: 200, audio_seconds: 10.003, estimated: true });
  });
});

describe('transcription seconds reported by the supplier', () => {
  it('bills a reported length past the reservation at the reservation, flagged estimated and logged without the transcript', async () => {
    // 10,044 bytes reserve 10.044 s (8 kbit/s); DTX silence or 6 kbit/s Opus can really run longer.
    const file = wavFile({ dataBytes: 10_000 });
    const answers = [{ task: 'transcribe', duration: 3_600, text: 'the secret words' }, { text: 'the secret words', usage: { type: 'duration', seconds: 3_600 } }];
    for (const answer of answers) {
      const { s, event } = await transcribe(file, () => Response.json(answer), { response_format: 'verbose_json' });
      expect(event).toMatchObject({ status: 200, audio_seconds: 10.044, estimated: true });
      expect(event.audio_seconds! * PER_SECOND).toBeLessThanOrEqual(reservedMicros(s.edge));
      const warned = s.edge.logs.filter((l) => l.level === 'warn');
      expect(warned).toHaveLength(1);
      expect(warned[0]!.fields).toMatchObject({ request_id: event.request_id, reported_seconds: 3_600, bound_seconds: 10.044 });
      expect(JSON.stringify(s.edge.logs)).not.toContain('secret');
    }
  });

  it('bills a reported length within the reservation exactly, not estimated', async () => {
    const { s, event } = await transcribe(wavFile({ dataBytes: 10_000 }), () => Response.json({ duration: 9.5, text: 'hi' }), { response_format: 'verbose_json' });
    expect(event).toMatchObject({ audio_seconds: 9.5, estimated: false });
    expect(s.edge.logs.filter((l) => l.level === 'warn')).toHaveLength(0);
  });
});

async function speak(body: Record<string, unknown>, reply: () => Response) {
  const s = await scenario({ model: { type: 'speech', pricing } });
  s.edge.supplier.script(s.model.routes[0]!, async () => reply());
  const res = await s.edge.send('/v1/audio/speech', { key: s.key.token, body: { model: s.model.id, voice: 'alloy', ...body } });
  const answer = await res.text();
  await s.edge.settle();
  return { s, res, answer, event: s.edge.events()[0]! };
}

const mp3Seconds = (seconds: number) => () => new Response(new Uint8Array(seconds * 16_000), { headers: { 'content-type': 'audio/mpeg' } });

describe('speech seconds within the reservation', () => {
  it('reserves enough for CJK text at speed 0.5 and bills its audio in full', async () => {
    // ~2.3 characters a second at speed 0.5 (the incident: 4,096 characters ran ~1,800 s).
    const { s, event } = await speak({ input: '語'.repeat(300), speed: 0.5 }, mp3Seconds(132));
    expect(s.edge.supplier.calls[0]!.body).toMatchObject({ speed: 0.5 });
    expect(event).toMatchObject({ status: 200, audio_seconds: 132, estimated: true });
    expect(event.audio_seconds! * PER_SECOND).toBeLessThanOrEqual(reservedMicros(s.edge));
  });

  it('reserves for 4,096 CJK characters at speed 0.25 at least the ~3,600 s they can run', async () => {
    const { s } = await speak({ input: '語'.repeat(4_096), speed: 0.25 }, mp3Seconds(1));
    expect(reservedMicros(s.edge)).toBeGreaterThanOrEqual(3_600 * PER_SECOND);
  });

  it('bills audio sent past the reservation at the reservation, and logs it', async () => {
    // 'Hi.' can take at most (3 / 2 + 10) s = 11.5 s; the supplier sends 20 s.
    const { s, event } = await speak({ input: 'Hi.' }, mp3Seconds(20));
    expect(event).toMatchObject({ status: 200, audio_seconds: 11.5, estimated: true });
    expect(event.audio_seconds! * PER_SECOND).toBeLessThanOrEqual(reservedMicros(s.edge));
    expect(s.edge.logs.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(JSON.stringify(s.edge.logs)).not.toContain('Hi.');
  });

  it('estimates SSE speech from its input at the speed asked', async () => {
    const sse = () => new Response('data: {"type":"speech.audio.done"}\n\n', { headers: { 'content-type': 'text/event-stream' } });
    const { event } = await speak({ input: 'a'.repeat(150), speed: 0.25, stream_format: 'sse' }, sse);
    // 150 characters at 15 a second, 4× slower.
    expect(event).toMatchObject({ status: 200, audio_seconds: 40, estimated: true });
  });

  it('refuses a speed outside 0.25–4 in OpenAI\'s error shape before any supplier call', async () => {
    for (const speed of [0.2, 4.5, '1']) {
      const { s, res, answer } = await speak({ input: 'Hello.', speed }, mp3Seconds(1));
      expect(res.status).toBe(422);
      expect(JSON.parse(answer)).toMatchObject({ error: { code: 'validation_failed', param: 'speed', type: 'invalid_request_error' } });
      expect(s.edge.supplier.calls).toHaveLength(0);
    }
  });
});
