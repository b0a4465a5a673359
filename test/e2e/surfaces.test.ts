// End to end for the non-chat surfaces, with real processes as in walking-skeleton.test.ts: the
// official OpenAI SDK calls Responses (streaming and not, with a function tool), embeddings,
// transcription and speech through the edge to the fake supplier; rerank by plain fetch. Each call
// leaves one usage row with the supplier's counts, audio priced per second.

import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCatalog } from '../../control-plane/demo-catalog.ts';
import { startFakeSupplier, type FakeSupplier } from '../../fake-supplier/server.ts';
import type { RunningEdge } from '../../scripts/edge-miniflare.ts';
import { manage } from '../../scripts/manage-client.ts';
import { postgresAvailable, type TestDatabase } from '../support/db.ts';
import { E2E_ACTOR, startE2eStack, type E2eStack } from '../support/e2e-stack.ts';
import { waitFor } from '../support/processes.ts';

const MARKER = 'PROMPT-MARKER-91c2';
const PER_SECOND = 100; // µUSD per second of audio

/** A 16 kHz, 16-bit mono WAV of `seconds` of silence. */
function wav(seconds: number): Buffer {
  const dataBytes = seconds * 32_000;
  const b = Buffer.alloc(44 + dataBytes);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(36 + dataBytes, 4);
  b.write('WAVEfmt ', 8, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(16_000, 24);
  b.writeUInt32LE(32_000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(dataBytes, 40);
  return b;
}

describe.skipIf(!postgresAvailable())('every non-chat surface, end to end', () => {
  let stack: E2eStack;
  let testDb: TestDatabase;
  let supplier: FakeSupplier;
  let edge: RunningEdge;
  let apiKey: { id: string; key: string };

  beforeAll(async () => {
    supplier = await startFakeSupplier({ apiKey: 'sk-supplier-secret' });
    supplier.setBehaviour({ completionTokens: 6 });
    stack = await startE2eStack();
    testDb = stack.testDb;
    const admin = stack.adminToken;
    const cpUrl = stack.cp.url;
    await seedCatalog(testDb.db, E2E_ACTOR, {
      supplier: { id: 'fake', name: 'Fake', format: 'openai', baseUrl: supplier.url, region: 'EU' },
      models: [{ id: 'chat-model', upstreamModel: 'fake-chat-1', inputPerMtok: 150_000, outputPerMtok: 600_000 }],
    });
    const typed: [string, string, string][] = [
      ['embed-model', 'embedding', 'fake-embed-1'],
      ['rerank-model', 'rerank', 'fake-rerank-1'],
      ['stt-model', 'transcription', 'fake-whisper-1'],
      ['tts-model', 'speech', 'fake-tts-1'],
    ];
    for (const [id, type, upstream] of typed) {
      await manage(cpUrl, admin, 'POST', '/v1/manage/models', { id, type, owned_by: 'fake' });
      await manage(cpUrl, admin, 'POST', `/v1/manage/models/${id}/routes`, { supplier_id: 'fake', upstream_model: upstream });
      const audio = type === 'transcription' || type === 'speech';
      // The price API takes only future versions; a past one lets the first request be priced.
      await testDb.db.query(
        `INSERT INTO model_prices (model_id, effective_from, input_per_mtok, output_per_mtok, per_second) VALUES ($1, '2020-01-01T00:00:00Z', $2, 0, $3)`,
        [id, audio ? 0 : 20_000, audio ? PER_SECOND : null],
      );
    }
    ({ key: apiKey } = await stack.orgWithKey('E2E surfaces'));
    ({ edge } = await stack.startNode({
      nodeId: 'e2e-node',
      bindings: { MANIFEST_REFRESH_SECONDS: '0.5', SUPPLIER_KEYS: JSON.stringify({ fake: 'sk-supplier-secret' }) },
    }));
    // The models added through the API reach the edge with the next manifest.
    await waitFor(
      async () => {
        const res = await fetch(`${edge.url}/v1/models`, { headers: { authorization: `Bearer ${apiKey.key}` } });
        const list = res.ok ? ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id) : [];
        return list.includes('tts-model');
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
  }, 120_000);

  afterAll(async () => {
    await stack?.close();
    await supplier?.close();
  });

  const client = () => new OpenAI({ baseURL: `${edge.url}/v1`, apiKey: apiKey.key, maxRetries: 0 });
  const rowOf = async (requestId: string) => {
    await waitFor(async () => (await testDb.db.query('SELECT 1 FROM usage_events WHERE request_id = $1', [requestId])).rows.length > 0, { timeoutMs: 10_000 });
    const { rows } = await testDb.db.query('SELECT * FROM usage_events WHERE request_id = $1', [requestId]);
    expect(rows).toHaveLength(1);
    return rows[0]!;
  };
  const weather = { type: 'function' as const, name: 'get_weather', description: 'Weather of a city', strict: false, parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } };

  it('answers client.responses.create, text and function call, billed by the supplier usage', async () => {
    const { data: text, response } = await client().responses.create({ model: 'chat-model', input: `${MARKER} hello`, instructions: 'Be brief.' }).withResponse();
    expect(text.object).toBe('response');
    expect(text.status).toBe('completed');
    expect(text.output_text).toBe('tok0 tok1 tok2 tok3 tok4 tok5');
    expect(text.usage).toMatchObject({ output_tokens: 6 });
    const row = await rowOf(response.headers.get('x-request-id')!);
    expect(row).toMatchObject({ endpoint: '/v1/responses', model: 'chat-model', status: 200, output_tokens: 6, input_tokens: text.usage!.input_tokens, estimated: false });

    supplier.setBehaviour({ toolCall: true });
    try {
      const call = await client().responses.create({ model: 'chat-model', input: 'Weather in Paris?', tools: [weather] });
      const fn = call.output.find((item) => item.type === 'function_call');
      expect(fn).toMatchObject({ type: 'function_call', name: 'get_weather' });
      expect(JSON.parse((fn as { arguments: string }).arguments)).toEqual({ city: 'tok0' });
    } finally {
      supplier.setBehaviour({ toolCall: false });
    }
  });

  it('streams client.responses.create event by event, text and function call, completed with usage', async () => {
    const stream = await client().responses.create({ model: 'chat-model', input: 'hi', stream: true });
    const types: string[] = [];
    let deltas = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') deltas += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    expect(types.slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    expect(types.slice(-4)).toEqual(['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
    expect(deltas).toBe('tok0 tok1 tok2 tok3 tok4 tok5');
    expect(completed?.usage?.output_tokens).toBe(6);

    supplier.setBehaviour({ toolCall: true });
    try {
      const tools = await client().responses.create({ model: 'chat-model', input: 'Weather?', tools: [weather], stream: true });
      let args = '';
      let done: string | undefined;
      for await (const event of tools) {
        if (event.type === 'response.function_call_arguments.delta') args += event.delta;
        if (event.type === 'response.function_call_arguments.done') done = event.arguments;
      }
      expect(done).toBe(args);
      expect(JSON.parse(args)).toEqual({ city: 'tok0' });
    } finally {
      supplier.setBehaviour({ toolCall: false });
    }
  });

  it('answers client.embeddings.create and bills prompt_tokens', async () => {
    const { data, response } = await client().embeddings.create({ model: 'embed-model', input: ['hello world', MARKER] }).withResponse();
    expect(data.data).toHaveLength(2);
    expect(data.data[0]!.embedding).toHaveLength(8);
    expect(typeof data.data[0]!.embedding[0]).toBe('number');
    expect(supplier.stats().lastBody).toMatchObject({ model: 'fake-embed-1' });
    const row = await rowOf(response.headers.get('x-request-id')!);
    expect(row).toMatchObject({ endpoint: '/v1/embeddings', input_tokens: data.usage.prompt_tokens, output_tokens: 0, estimated: false });
    expect(Number(row.cost_micros)).toBe(Math.round((data.usage.prompt_tokens * 20_000) / 1e6));
  });

  it('answers /v1/rerank to a plain fetch with results by relevance, billed by tokens', async () => {
    const res = await fetch(`${edge.url}/v1/rerank`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'rerank-model', query: 'red apples', documents: ['blue sky', 'red apples are sweet', 'apples'], top_n: 2 }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { results: { index: number; relevance_score: number }[]; usage: { total_tokens: number } };
    expect(body.results.map((r) => r.index)).toEqual([2, 1]);
    const row = await rowOf(res.headers.get('x-request-id')!);
    expect(row).toMatchObject({ endpoint: '/v1/rerank', input_tokens: body.usage.total_tokens });
  });

  it('refuses a chat model on /v1/embeddings with a 400 naming its type, and calls no supplier', async () => {
    const before = supplier.stats().requests;
    const err = await client().embeddings.create({ model: 'chat-model', input: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toContain('chat model');
    expect(supplier.stats().requests).toBe(before);
  });

  it('transcribes an uploaded WAV with client.audio.transcriptions.create, priced per second', async () => {
    const { data, response } = await client()
      .audio.transcriptions.create({ model: 'stt-model', file: await toFile(wav(3), 'clip.wav', { type: 'audio/wav' }), response_format: 'verbose_json' })
      .withResponse();
    expect(data.text).toContain('Fake transcript');
    expect(data.duration).toBe(3);
    expect(supplier.stats().lastBody).toMatchObject({ model: 'fake-whisper-1', response_format: 'verbose_json', file: { name: 'clip.wav', bytes: 44 + 3 * 32_000 } });
    const row = await rowOf(response.headers.get('x-request-id')!);
    expect(row).toMatchObject({ endpoint: '/v1/audio/transcriptions', estimated: false, input_tokens: 0 });
    expect(Number(row.audio_seconds)).toBe(3);
    expect(Number(row.cost_micros)).toBe(3 * PER_SECOND);
  });

  it('streams speech audio with client.audio.speech.create, billed per second from its bytes', async () => {
    const input = 'Thirty characters of speech!!!'; // 30 characters: 2 seconds at 15 a second
    const { data: speech, response } = await client().audio.speech.create({ model: 'tts-model', input, voice: 'alloy' }).withResponse();
    expect(speech.headers.get('content-type')).toBe('audio/mpeg');
    const audio = Buffer.from(await speech.arrayBuffer());
    expect(audio.byteLength).toBe(32_000);
    expect(audio[0]).toBe(0xff);
    const row = await rowOf(response.headers.get('x-request-id')!);
    expect(row).toMatchObject({ endpoint: '/v1/audio/speech', estimated: true });
    expect(Number(row.audio_seconds)).toBe(2);
    expect(Number(row.cost_micros)).toBe(2 * PER_SECOND);

    const everything = await testDb.db.query('SELECT (SELECT json_agg(u) FROM usage_events u)::text AS t');
    expect(everything.rows[0]!.t).not.toContain(MARKER);
  });
});
