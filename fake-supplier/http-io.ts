// The fake supplier's HTTP plumbing shared by its endpoints (OpenAI and Anthropic formats): read a
// body, parse it, answer JSON, and write an SSE stream event by event with the configured delay
// and mid-stream failure.

import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Behaviour } from './behaviour.ts';
import type { ChatEvents } from './openai-chat.ts';

/** One request in flight: its pending write timer, and whether the fake cut it on purpose. */
export type Exchange = { timer: NodeJS.Timeout | undefined; deliberate: boolean };

export const STREAM_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

export async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of req) chunks.push(chunk as Buffer);
  } catch {
    return null;
  }
  return Buffer.concat(chunks);
}

// undefined marks malformed JSON, distinct from a body that is literally null.
export function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

export function sendJson(res: ServerResponse, status: number, body: string, headers: OutgoingHttpHeaders = {}): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/**
 * Each event is its own write; with a delay between them the client sees them arrive one by one.
 * failMidStreamAfterChunks cuts the connection after that many content events, without the
 * closing events.
 */
export function writeStream(
  res: ServerResponse,
  events: ChatEvents,
  exchange: Exchange,
  options: { behaviour: Readonly<Behaviour>; headers: OutgoingHttpHeaders },
): void {
  const { interChunkDelayMs: delay, failMidStreamAfterChunks: failAfter } = options.behaviour;
  const steps = [...events.content, ...events.closing];
  const failAt = failAfter !== null && failAfter <= events.content.length ? failAfter : -1;
  const writeFrom = (start: number): void => {
    for (let i = start; i < steps.length; i += 1) {
      if (res.destroyed) return;
      if (i === failAt) {
        exchange.deliberate = true;
        // destroySoon flushes what was written first, so the client gets exactly failAt chunks.
        res.socket?.destroySoon();
        return;
      }
      res.write(steps[i]);
      if (delay > 0 && i + 1 < steps.length) {
        exchange.timer = setTimeout(writeFrom, delay, i + 1);
        return;
      }
    }
    res.end();
  };
  res.writeHead(200, { ...STREAM_HEADERS, ...options.headers });
  res.write(events.opening);
  if (delay > 0) exchange.timer = setTimeout(writeFrom, delay, 0);
  else writeFrom(0);
}
