// A local HTTP server that imitates an OpenAI-compatible inference supplier for the demo, the
// end-to-end tests and the benchmark; its next answers follow a Behaviour set in-process or over /__control.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_BEHAVIOUR, mergeBehaviour, parseBehaviourPatch, takeFault } from './behaviour.ts';
import { createAnthropicEndpoint } from './anthropic-endpoint.ts';
import { createMediaEndpoints } from './media-endpoints.ts';
import { parseJson, readBody, sendJson, writeStream, type Exchange } from './http-io.ts';
import type { Behaviour, FailNext } from './behaviour.ts';
import { chatEvents, completionBody, errorBody, errorBodyForStatus, MODEL_LIST } from './openai-chat.ts';
import { parseChatRequest, planCompletion } from './openai-chat.ts';
import type { ChatRequest } from './openai-chat.ts';

export type FakeSupplierOptions = {
  host?: string;
  port?: number;
  apiKey?: string;
  /** Each exchange's arrival and the end of its answer, on the machine's monotonic clock (ns): bench/breakdown.ts. */
  onExchange?: (arrivedNs: bigint, answeredNs: bigint) => void;
};

export type FakeSupplierStats = {
  requests: number;
  byModel: Record<string, number>;
  aborted: number;
  lastAuthorization: string | null;
  // Kept in memory only, for assertions; prompts never reach a log or a disk.
  lastBody: unknown | null;
};

export type FakeSupplier = {
  url: string;
  port: number;
  stats(): FakeSupplierStats;
  setBehaviour(patch: Partial<Behaviour>): void;
  reset(): void;
  close(): Promise<void>;
};

// One per chat request: the pending timer to clear if the client leaves, and whether a closed
// socket was our own doing (an injected fault) rather than the client going away.


const MALFORMED_JSON = 'We could not parse the JSON body of your request.';

const emptyStats = (): FakeSupplierStats => ({
  requests: 0,
  byModel: {},
  aborted: 0,
  lastAuthorization: null,
  lastBody: null,
});

export async function startFakeSupplier(options: FakeSupplierOptions = {}): Promise<FakeSupplier> {
  const host = options.host ?? '127.0.0.1';
  const idPrefix = randomBytes(8).toString('hex');
  let behaviour: Behaviour = { ...DEFAULT_BEHAVIOUR };
  let stats = emptyStats();
  let sequence = 0;
  let closing = false;

  const snapshot = (): FakeSupplierStats => ({ ...stats, byModel: { ...stats.byModel } });
  const setBehaviour = (patch: Partial<Behaviour>): void => {
    behaviour = mergeBehaviour(behaviour, patch);
  };
  const reset = (): void => {
    behaviour = { ...DEFAULT_BEHAVIOUR };
    stats = emptyStats();
  };

  const authFailure = (req: IncomingMessage): string | null => {
    if (options.apiKey === undefined) return null;
    const header = req.headers.authorization;
    if (header === `Bearer ${options.apiKey}`) return null;
    // Like OpenAI, never echo the key that was sent.
    return header
      ? errorBody('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key')
      : errorBody("You didn't provide an API key. Send it as Authorization: Bearer <key>.", 'invalid_request_error');
  };

  // Parse, record, authorize, meet the injected fault, then answer.
  const chat = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const exchange: Exchange = { timer: undefined, deliberate: false };
    const current = stats;
    res.on('close', () => {
      clearTimeout(exchange.timer);
      if (!res.writableFinished && !exchange.deliberate && !closing) current.aborted += 1;
    });
    const raw = await readBody(req);
    if (raw === null) return;
    const body = parseJson(raw);
    recordRequest(current, req, body);
    const denied = authFailure(req);
    if (denied) return sendJson(res, 401, denied);

    const { fault, next } = takeFault(behaviour);
    const b = behaviour;
    behaviour = next;
    if (fault.kind === 'drop') {
      exchange.deliberate = true;
      return void req.socket.destroy();
    }
    if (fault.kind === 'fail') return sendFailure(res, fault.failure);
    if (fault.kind === 'hang') return;
    const parsed = body === undefined ? { ok: false as const, message: MALFORMED_JSON } : parseChatRequest(body);
    if (!parsed.ok) return sendJson(res, 400, errorBody(parsed.message, 'invalid_request_error'));
    answer(res, exchange, parsed.request, b);
  };

  const answer = (res: ServerResponse, exchange: Exchange, request: ChatRequest, b: Readonly<Behaviour>): void => {
    sequence += 1;
    const id = `chatcmpl-${idPrefix}${sequence.toString(36).padStart(8, '0')}`;
    const plan = planCompletion(request, { ...b, id, created: Math.floor(Date.now() / 1000) });
    const headers = { 'x-request-id': `req_${idPrefix}${sequence}` };
    const respond = request.stream
      ? () => writeStream(res, chatEvents(plan, { includeUsage: request.includeUsage }), exchange, { behaviour: b, headers })
      : () => sendJson(res, 200, completionBody(plan), headers);
    if (b.firstByteDelayMs > 0) exchange.timer = setTimeout(respond, b.firstByteDelayMs);
    else respond();
  };

  // No key on /__control: it is a test hook, and the fake listens on loopback unless told otherwise.
  const control = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const route = `${req.method} ${path}`;
    if (route === 'GET /__control/stats') return sendJson(res, 200, JSON.stringify(snapshot()));
    if (route === 'GET /__control/behaviour') return sendJson(res, 200, JSON.stringify(behaviour));
    if (route === 'POST /__control/reset') {
      reset();
      return sendJson(res, 200, JSON.stringify(behaviour));
    }
    if (route !== 'POST /__control/behaviour') return notFound(res, route);
    const raw = await readBody(req);
    if (raw === null) return;
    const result = parseBehaviourPatch(parseJson(raw));
    if (!result.ok) return sendJson(res, 400, errorBody(result.message, 'invalid_request_error'));
    setBehaviour(result.patch);
    sendJson(res, 200, JSON.stringify(behaviour));
  };

  const anthropic = createAnthropicEndpoint({
    apiKey: options.apiKey,
    idPrefix,
    stats: () => stats,
    takeFault: () => {
      const { fault, next } = takeFault(behaviour);
      const current = behaviour;
      behaviour = next;
      return { fault, behaviour: current };
    },
    closing: () => closing,
  });

  const media = createMediaEndpoints({ apiKey: options.apiKey, idPrefix, stats: () => stats, interChunkDelayMs: () => behaviour.interChunkDelayMs });

  const server = createServer((req, res) => {
    if (options.onExchange) {
      const arrived = process.hrtime.bigint();
      res.once('finish', () => options.onExchange!(arrived, process.hrtime.bigint()));
    }
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (path.startsWith('/__control/')) return void control(req, res, path);
    if (req.method === 'POST' && path === '/v1/chat/completions') return void chat(req, res);
    if (req.method === 'POST' && path === '/v1/messages') return void anthropic.messages(req, res);
    if (req.method === 'POST' && path === '/v1/messages/count_tokens') return void anthropic.countTokens(req, res);
    if (req.method === 'POST' && path === '/v1/embeddings') return void media.embeddings(req, res);
    if (req.method === 'POST' && path === '/v1/rerank') return void media.rerank(req, res);
    if (req.method === 'POST' && path === '/v1/audio/transcriptions') return void media.transcriptions(req, res);
    if (req.method === 'POST' && path === '/v1/audio/speech') return void media.speech(req, res);
    if (req.method === 'GET' && path === '/v1/models') {
      const denied = authFailure(req);
      return denied ? sendJson(res, 401, denied) : sendJson(res, 200, MODEL_LIST);
    }
    notFound(res, `${req.method} ${path}`);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}/v1`,
    port,
    stats: snapshot,
    setBehaviour,
    reset,
    close: () =>
      new Promise<void>((resolve, reject) => {
        closing = true;
        server.close((error) => (error ? reject(error) : resolve()));
        // Hung and streaming requests would otherwise keep close() waiting; their 'close'
        // listeners clear the timers.
        server.closeAllConnections();
      }),
  };
}

function recordRequest(stats: FakeSupplierStats, req: IncomingMessage, body: unknown): void {
  stats.requests += 1;
  stats.lastAuthorization = req.headers.authorization ?? null;
  stats.lastBody = body ?? null;
  const model = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).model : undefined;
  if (typeof model === 'string') stats.byModel[model] = (stats.byModel[model] ?? 0) + 1;
}

function sendFailure(res: ServerResponse, { status, body: custom }: FailNext): void {
  const text = typeof custom === 'string';
  const body = custom === undefined ? errorBodyForStatus(status) : text ? custom : JSON.stringify(custom);
  sendJson(res, status, body, {
    ...(status === 429 ? { 'retry-after': '1' } : {}),
    ...(text ? { 'content-type': 'text/plain; charset=utf-8' } : {}),
  });
}

function notFound(res: ServerResponse, route: string): void {
  sendJson(res, 404, errorBody(`Invalid URL (${route})`, 'invalid_request_error'));
}

// null when the client went away while sending; the response's 'close' listener has counted it.
