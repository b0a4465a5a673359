// The fake supplier's Anthropic endpoints, POST /v1/messages and /v1/messages/count_tokens: the
// same Behaviour knobs and faults as the OpenAI chat endpoint, answered in Anthropic's wire format.
// server.ts owns the state (behaviour, stats) and hands this module a window onto it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Behaviour, Fault } from './behaviour.ts';
import { anthropicError, anthropicErrorForStatus, inputTokens, messageBody, messageEvents, parseMessagesRequest, planMessage } from './anthropic-messages.ts';
import { parseJson, readBody, sendJson, writeStream, type Exchange } from './http-io.ts';

export type AnthropicStats = { requests: number; byModel: Record<string, number>; aborted: number; lastAuthorization: string | null; lastBody: unknown | null };

export type AnthropicEndpointContext = {
  apiKey: string | undefined;
  idPrefix: string;
  /** The stats object current for this request (reset replaces it). */
  stats(): AnthropicStats;
  /** The fault this request meets and the behaviour it runs under; uses the fault up. */
  takeFault(): { fault: Fault; behaviour: Readonly<Behaviour> };
  closing(): boolean;
};



export function createAnthropicEndpoint(ctx: AnthropicEndpointContext) {
  let sequence = 0;

  // Anthropic authenticates with x-api-key; a Bearer token is accepted too (as its OAuth flows send).
  const authFailure = (req: IncomingMessage): string | null => {
    if (ctx.apiKey === undefined) return null;
    const presented = req.headers['x-api-key'] ?? /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (presented === ctx.apiKey) return null;
    return anthropicError('authentication_error', presented ? 'invalid x-api-key' : 'x-api-key header is required');
  };

  const begin = async (req: IncomingMessage, res: ServerResponse, exchange: Exchange): Promise<{ body: unknown } | null> => {
    const current = ctx.stats();
    res.on('close', () => {
      clearTimeout(exchange.timer);
      if (!res.writableFinished && !exchange.deliberate && !ctx.closing()) current.aborted += 1;
    });
    const raw = await readBody(req);
    if (raw === null) return null;
    const body = parseJson(raw);
    current.requests += 1;
    current.lastAuthorization = (req.headers['x-api-key'] as string | undefined) ?? req.headers.authorization ?? null;
    current.lastBody = body ?? null;
    const model = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).model : undefined;
    if (typeof model === 'string') current.byModel[model] = (current.byModel[model] ?? 0) + 1;
    const denied = authFailure(req);
    if (denied) {
      sendJson(res, 401, denied);
      return null;
    }
    if (typeof req.headers['anthropic-version'] !== 'string') {
      sendJson(res, 400, anthropicError('invalid_request_error', 'anthropic-version: header is required'));
      return null;
    }
    return { body };
  };

  const messages = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const exchange: Exchange = { timer: undefined, deliberate: false };
    const started = await begin(req, res, exchange);
    if (started === null) return;
    const body = started.body;
    const { fault, behaviour: b } = ctx.takeFault();
    if (fault.kind === 'drop') {
      exchange.deliberate = true;
      return void req.socket.destroy();
    }
    if (fault.kind === 'fail') {
      const custom = fault.failure.body;
      const text = custom === undefined ? anthropicErrorForStatus(fault.failure.status) : typeof custom === 'string' ? custom : JSON.stringify(custom);
      return sendJson(res, fault.failure.status, text, fault.failure.status === 429 ? { 'retry-after': '1' } : {});
    }
    if (fault.kind === 'hang') return;
    const parsed = body === undefined ? { ok: false as const, message: 'There was an issue with your request body: invalid JSON' } : parseMessagesRequest(body, { countOnly: false });
    if (!parsed.ok) return sendJson(res, 400, anthropicError('invalid_request_error', parsed.message));
    sequence += 1;
    const id = `msg_${ctx.idPrefix}${sequence.toString(36).padStart(8, '0')}`;
    const plan = planMessage(parsed.request, { ...b, id });
    const headers = { 'request-id': `req_${ctx.idPrefix}${sequence}` };
    const respond = parsed.request.stream
      ? () => writeStream(res, messageEvents(plan), exchange, { behaviour: b, headers })
      : () => sendJson(res, 200, messageBody(plan), headers);
    if (b.firstByteDelayMs > 0) exchange.timer = setTimeout(respond, b.firstByteDelayMs);
    else respond();
  };

  // Counting meets no injected fault: faults imitate generation failures.
  const countTokens = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = await begin(req, res, { timer: undefined, deliberate: false });
    if (started === null) return;
    const body = started.body;
    const parsed = body === undefined ? { ok: false as const, message: 'invalid JSON' } : parseMessagesRequest(body, { countOnly: true });
    if (!parsed.ok) return sendJson(res, 400, anthropicError('invalid_request_error', parsed.message));
    sendJson(res, 200, JSON.stringify({ input_tokens: inputTokens(parsed.request) }));
  };

  return { messages, countTokens };
}

