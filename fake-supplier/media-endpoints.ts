// The fake supplier's non-chat OpenAI endpoints: POST /v1/embeddings, /v1/rerank,
// /v1/audio/transcriptions (multipart) and /v1/audio/speech (audio bytes, written in pieces with
// the behaviour's inter-chunk delay so a client sees them arrive). server.ts owns the state and
// hands this module a window onto it; faults stay on chat (behaviour.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SPEECH_CONTENT_TYPES, speechBytes, transcriptionAnswer } from './audio.ts';
import { embeddingsAnswer, rerankAnswer, type Answer } from './embeddings.ts';
import { errorBody } from './openai-chat.ts';

export type MediaStats = { requests: number; byModel: Record<string, number>; aborted: number; lastAuthorization: string | null; lastBody: unknown | null };

export type MediaEndpointContext = {
  apiKey: string | undefined;
  idPrefix: string;
  stats(): MediaStats;
  interChunkDelayMs(): number;
};

const SPEECH_PIECE_BYTES = 4096;

export function createMediaEndpoints(ctx: MediaEndpointContext) {
  let sequence = 0;

  const record = (req: IncomingMessage, body: unknown): boolean => {
    const stats = ctx.stats();
    stats.requests += 1;
    stats.lastAuthorization = req.headers.authorization ?? null;
    stats.lastBody = body ?? null;
    const model = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).model : undefined;
    if (typeof model === 'string') stats.byModel[model] = (stats.byModel[model] ?? 0) + 1;
    return ctx.apiKey === undefined || req.headers.authorization === `Bearer ${ctx.apiKey}`;
  };

  const answerJson = (res: ServerResponse, answer: Answer): void =>
    answer.ok ? send(res, 200, 'application/json', answer.body) : send(res, answer.status, 'application/json', errorBody(answer.message, 'invalid_request_error'));

  const json = async (req: IncomingMessage, res: ServerResponse): Promise<unknown> => {
    const raw = await readBody(req);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      body = undefined;
    }
    if (!record(req, body)) {
      send(res, 401, 'application/json', errorBody('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'));
      return undefined;
    }
    if (body === undefined) send(res, 400, 'application/json', errorBody('We could not parse the JSON body of your request.', 'invalid_request_error'));
    return body;
  };

  return {
    async embeddings(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const body = await json(req, res);
      if (body !== undefined) answerJson(res, embeddingsAnswer(body));
    },

    async rerank(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const body = await json(req, res);
      sequence += 1;
      if (body !== undefined) answerJson(res, rerankAnswer(body, `rerank-${ctx.idPrefix}${sequence}`));
    },

    async transcriptions(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const raw = await readBody(req);
      let form: FormData;
      try {
        form = await new Request('http://fake.local/', { method: 'POST', headers: { 'content-type': req.headers['content-type'] ?? '' }, body: raw }).formData();
      } catch {
        record(req, undefined);
        return send(res, 400, 'application/json', errorBody('Could not parse multipart form', 'invalid_request_error'));
      }
      const file = form.get('file');
      const fields = Object.fromEntries([...form.entries()].filter(([, v]) => typeof v === 'string'));
      const fileBytes = typeof file === 'string' || file === null ? null : new Uint8Array(await file.arrayBuffer());
      if (!record(req, { ...fields, file: fileBytes ? { name: (file as File).name, bytes: fileBytes.byteLength } : null })) {
        return send(res, 401, 'application/json', errorBody('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'));
      }
      if (!fileBytes || typeof fields.model !== 'string') return send(res, 400, 'application/json', errorBody("'file' and 'model' are required", 'invalid_request_error'));
      const answer = transcriptionAnswer(fileBytes, typeof fields.response_format === 'string' ? fields.response_format : 'json');
      send(res, 200, answer.contentType, answer.body);
    },

    async speech(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const body = (await json(req, res)) as Record<string, unknown> | undefined;
      if (body === undefined) return;
      if (typeof body.input !== 'string' || typeof body.model !== 'string') return send(res, 400, 'application/json', errorBody("'model' and 'input' are required", 'invalid_request_error'));
      const format = typeof body.response_format === 'string' && body.response_format in SPEECH_CONTENT_TYPES ? body.response_format : 'mp3';
      const bytes = speechBytes(body.input, format);
      const delay = ctx.interChunkDelayMs();
      const stats = ctx.stats();
      res.on('close', () => {
        if (!res.writableFinished) stats.aborted += 1;
      });
      res.writeHead(200, { 'content-type': SPEECH_CONTENT_TYPES[format]!, 'transfer-encoding': 'chunked' });
      const write = (at: number): void => {
        if (res.destroyed) return;
        if (at >= bytes.byteLength) return void res.end();
        res.write(bytes.subarray(at, at + SPEECH_PIECE_BYTES));
        if (delay > 0) setTimeout(write, delay, at + SPEECH_PIECE_BYTES);
        else write(at + SPEECH_PIECE_BYTES);
      };
      write(0);
    },
  };
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
