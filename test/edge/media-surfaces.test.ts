// Embeddings, rerank and audio through the edge: passed through to the supplier's own endpoint
// with its model name, metered from the supplier's usage (or audio seconds), a model of the wrong
// type refused before any supplier call, uploads size-limited, speech streamed unbuffered.
import { describe, expect, it } from 'vitest';
import { deferred, within } from './support/deferred.ts';
import type { Reply } from './support/fake-supplier.ts';
import { transcriptionUpload } from './support/audio-files.ts';
import { buildPricing } from './support/manifest-builder.ts';
import { scenario } from './support/scenario.ts';

const json = (body: unknown, headers: Record<string, string> = {}): Reply => async () => Response.json(body, { headers });

/** A 16 kHz, 16-bit mono WAV of `seconds` of silence. */
function wav(seconds: number): Uint8Array {
  const dataBytes = Math.round(seconds * 32_000);
  const bytes = new Uint8Array(44 + dataBytes);
  const view = new DataView(bytes.buffer);
  const ascii = (at: number, s: string) => [...s].forEach((ch, i) => view.setUint8(at + i, ch.charCodeAt(0)));
  ascii(0, 'RIFF');
  view.setUint32(4, 36 + dataBytes, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, 16_000, true);
  view.setUint32(28, 32_000, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  ascii(36, 'data');
  view.setUint32(40, dataBytes, true);
  return bytes;
}

describe('POST /v1/embeddings', () => {
  it('passes the request to the supplier with its model name, the answer back, and meters prompt_tokens', async () => {
    const s = await scenario({ model: { type: 'embedding' } });
    const route = s.model.routes[0]!;
    const answer = { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }], model: route.upstream_model, usage: { prompt_tokens: 6, total_tokens: 6 } };
    s.edge.supplier.script(route, json(answer));

    const res = await s.edge.send('/v1/embeddings', { key: s.key.token, body: { model: s.model.id, input: ['hello', 'world'], encoding_format: 'float' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(answer);
    const [call] = s.edge.supplier.callsTo(route);
    expect(call!.url).toBe(`${route.base_url}/embeddings`);
    expect(call!.body).toEqual({ model: route.upstream_model, input: ['hello', 'world'], encoding_format: 'float' });
    await s.edge.settle();
    expect(s.edge.events()[0]).toMatchObject({ endpoint: '/v1/embeddings', input_tokens: 6, output_tokens: 0, estimated: false, audio_seconds: 0 });
  });

  it('reserves a batch at its bytes, not one context window: each input is capped on its own', async () => {
    // 1 µUSD an input token; a context window of 100 tokens; 50 inputs of 90 characters.
    const s = await scenario({ model: { type: 'embedding', context_window: 100, pricing: buildPricing(1_000_000, 0) } });
    s.edge.supplier.script(s.model.routes[0]!, json({ object: 'list', data: [], usage: { prompt_tokens: 4_500, total_tokens: 4_500 } }));
    const input = Array.from({ length: 50 }, () => 'x'.repeat(90));
    const res = await s.edge.send('/v1/embeddings', { key: s.key.token, body: { model: s.model.id, input } });
    expect(res.status).toBe(200);
    await res.text();
    await s.edge.settle();
    const reserved = s.edge.grants.calls.flatMap((c) => c.acquire ?? [])[0]!.money.need;
    expect(reserved).toBeGreaterThanOrEqual(4_500);
    expect(reserved).toBeLessThanOrEqual(5_001); // the batch's 50 × 100-token cap, plus the rounding micro-dollar
  });

  it('refuses a chat model with a 400 naming its type, and calls no supplier', async () => {
    const s = await scenario();
    const res = await s.edge.send('/v1/embeddings', { key: s.key.token, body: { model: s.model.id, input: 'x' } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string; param: string } };
    expect(body.error.message).toContain('is a chat model');
    expect(body.error.param).toBe('model');
    expect(s.edge.supplier.calls).toHaveLength(0);
    await s.edge.settle();
    expect(s.edge.events()[0]).toMatchObject({ status: 400, input_tokens: 0 });
  });
});

describe('POST /v1/rerank', () => {
  it('passes model, query, documents and top_n to the supplier /rerank, and meters total_tokens', async () => {
    const s = await scenario({ model: { type: 'rerank' } });
    const route = s.model.routes[0]!;
    const answer = { id: 'r1', results: [{ index: 1, relevance_score: 0.9 }], usage: { total_tokens: 42 } };
    s.edge.supplier.script(route, json(answer));
    const res = await s.edge.send('/v1/rerank', { key: s.key.token, body: { model: s.model.id, query: 'q', documents: ['a', 'b'], top_n: 1 } });
    expect(await res.json()).toEqual(answer);
    expect(s.edge.supplier.callsTo(route)[0]).toMatchObject({ url: `${route.base_url}/rerank`, body: { model: route.upstream_model, query: 'q', documents: ['a', 'b'], top_n: 1 } });
    await s.edge.settle();
    expect(s.edge.events()[0]).toMatchObject({ endpoint: '/v1/rerank', input_tokens: 42, estimated: false });
  });

  it('reserves the query once for each document, as cross-encoders read (and bill) it', async () => {
    const s = await scenario({ model: { type: 'rerank', context_window: 100_000, pricing: buildPricing(1_000_000, 0) } });
    const query = 'q'.repeat(1_000);
    const documents = Array.from({ length: 200 }, () => 'd');
    // A vLLM-style report: 200 pairs of ~1,001 tokens.
    s.edge.supplier.script(s.model.routes[0]!, json({ results: [], usage: { total_tokens: 200_200 } }));
    const res = await s.edge.send('/v1/rerank', { key: s.key.token, body: { model: s.model.id, query, documents } });
    expect(res.status).toBe(200);
    await res.text();
    await s.edge.settle();
    expect(s.edge.grants.calls.flatMap((c) => c.acquire ?? [])[0]!.money.need).toBeGreaterThanOrEqual(200_200);
  });

  it('answers 422 for a body without documents', async () => {
    const s = await scenario({ model: { type: 'rerank' } });
    const res = await s.edge.send('/v1/rerank', { key: s.key.token, body: { model: s.model.id, query: 'q' } });
    expect(res.status).toBe(422);
    expect(s.edge.supplier.calls).toHaveLength(0);
  });
});

describe('POST /v1/audio/transcriptions', () => {
  it('forwards the upload with the upstream model name and bills the duration the supplier reports', async () => {
    const s = await scenario({ model: { type: 'transcription' } });
    const route = s.model.routes[0]!;
    s.edge.supplier.script(route, json({ task: 'transcribe', duration: 3.25, text: 'hi' }));
    const { body, headers } = transcriptionUpload(s.model.id, wav(1), { response_format: 'verbose_json', language: 'en' });

    const res = await s.edge.send('/v1/audio/transcriptions', { key: s.key.token, body, headers });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ text: 'hi' });
    const [call] = s.edge.supplier.callsTo(route);
    expect(call!.url).toBe(`${route.base_url}/audio/transcriptions`);
    expect(call!.headers.get('content-type')).toMatch(/^multipart\/form-data; boundary=/);
    const sent = await new Response(call!.rawBody, { headers: { 'content-type': call!.headers.get('content-type')! } }).formData();
    expect(sent.get('model')).toBe(route.upstream_model);
    expect(sent.get('language')).toBe('en');
    expect(((sent.get('file') as File).size)).toBe(wav(1).byteLength);
    await s.edge.settle();
    expect(s.edge.events()[0]).toMatchObject({ endpoint: '/v1/audio/transcriptions', audio_seconds: 3.25, estimated: false, input_tokens: 0 });
  });

  it('estimates seconds from the WAV header and flags it when the answer says no duration', async () => {
    const s = await scenario({ model: { type: 'transcription' } });
    s.edge.supplier.script(s.model.routes[0]!, async () => new Response('hi\n', { headers: { 'content-type': 'text/plain' } }));
    const { body, headers } = transcriptionUpload(s.model.id, wav(2), { response_format: 'text' });
    const res = await s.edge.send('/v1/audio/transcriptions', { key: s.key.token, body, headers });
    expect(await res.text()).toBe('hi\n');
    await s.edge.settle();
    expect(s.edge.events()[0]).toMatchObject({ audio_seconds: 2, estimated: true });
  });

  it('answers 413 above the upload limit without reading further or calling a supplier', async () => {
    const s = await scenario({ model: { type: 'transcription' } });
    const { body, headers } = transcriptionUpload(s.model.id, new Uint8Array(25 * 1024 * 1024 + 1));
    const res = await s.edge.send('/v1/audio/transcriptions', { key: s.key.token, body, headers });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'payload_too_large' } });
    expect(s.edge.supplier.calls).toHaveLength(0);
  });

  it('answers 422 for a model name that is too long or holds a control character', async () => {
    const s = await scenario({ model: { type: 'transcription' } });
    for (const model of ['m'.repeat(201), 'whisper\u0000']) {
      const { body, headers } = transcriptionUpload(model, wav(1));
      const res = await s.edge.send('/v1/audio/transcriptions', { key: s.key.token, body, headers });
      expect(res.status).toBe(422);
      expect(await res.json()).toMatchObject({ error: { code: 'validation_failed', param: 'model' } });
    }
    expect(s.edge.supplier.calls).toHaveLength(0);
  });

  it('answers 415 for a body that is not multipart, and 422 without a file', async () => {
    const s = await scenario({ model: { type: 'transcription' } });
    const notMultipart = await s.edge.send('/v1/audio/transcriptions', { key: s.key.token, body: { model: s.model.id } });
    expect(notMultipart.status).toBe(415);
    const boundary = 'b';
    const noFile = await s.edge.send('/v1/audio/transcriptions', {
      key: s.key.token,
      body: `--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n${s.model.id}\r\n--${boundary}--\r\n`,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    expect(noFile.status).toBe(422);
    expect(await noFile.json()).toMatchObject({ error: { param: 'file' } });
    expect(s.edge.supplier.calls).toHaveLength(0);
  });
});

describe('POST /v1/audio/speech', () => {
  it('streams the audio through as it arrives and bills the seconds its bytes hold', async () => {
    const s = await scenario({ model: { type: 'speech' } });
    const route = s.model.routes[0]!;
    const release = deferred();
    let sent = 0;
    s.edge.supplier.script(route, async () => {
      const body = new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            if (sent === 1) await release.promise;
            if (sent === 2) return controller.close();
            sent++;
            controller.enqueue(new Uint8Array(16_000));
          },
        },
        { highWaterMark: 0 },
      );
      return new Response(body, { headers: { 'content-type': 'audio/mpeg' } });
    });

    const res = await within(s.edge.send('/v1/audio/speech', { key: s.key.token, body: { model: s.model.id, input: 'Hello there.', voice: 'alloy' } }), 500, 'headers');
    expect(res.headers.get('content-type')).toBe('audio/mpeg');
    const reader = res.body!.getReader();
    const first = await within(reader.read(), 500, 'first audio bytes');
    expect(first.value!.byteLength).toBe(16_000);
    release.resolve();
    let total = first.value!.byteLength;
    for (let step = await reader.read(); !step.done; step = await reader.read()) total += step.value.byteLength;
    expect(total).toBe(32_000);
    expect(s.edge.supplier.callsTo(route)[0]).toMatchObject({ url: `${route.base_url}/audio/speech`, body: { model: route.upstream_model, voice: 'alloy' } });
    await s.edge.settle();
    // 32,000 bytes of mp3 at 128 kbit/s.
    expect(s.edge.events()[0]).toMatchObject({ endpoint: '/v1/audio/speech', audio_seconds: 2, estimated: true, input_tokens: 0, output_tokens: 0 });
  });
});
