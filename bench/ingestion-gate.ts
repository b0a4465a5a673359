// A pass-through in front of the control plane that can hold back usage ingestion, so the edge is
// measured as it runs in production: with the control plane on other machines. On this 2-core
// machine the control plane's ingestion of the events (0.45–8 ms of CPU each into PGlite, most
// at low rates where its batches are small) otherwise competes with the edge for the same cores.
//
// While held, a usage delivery waits (under the outbox's 5 s timeout) until the gate opens and is
// then forwarded; one still held after 4 s is answered 503 and the outbox retries as it would in
// an outage. Every other request (manifest, leases, credentials) passes at once. Bytes pass
// untouched (node:http, no decoding), so signed and compressed answers stay as they were.

import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const USAGE_PATH = '/node/v1/usage';
/** Below the outbox's 5 s delivery timeout (edge/usage-outbox-do.ts). */
const HOLD_AT_MOST_MS = 4000;

/** One request that passed the gate: what the edges asked of the control plane, and when. */
export interface GateCall {
  /** Without the query. */
  path: string;
  /** Unix ms when it arrived, and how long until its answer was sent. */
  atMs: number;
  tookMs: number;
}

export interface IngestionGate {
  url: string;
  /** Every request so far, in the order answered (bench/stalls.ts lines them up with slow requests). */
  calls: GateCall[];
  /** Holds usage deliveries from now until `release`. */
  hold(): void;
  /** Lets held and later deliveries through. */
  release(): void;
  close(): Promise<void>;
}

export async function startIngestionGate(target: string, port: number): Promise<IngestionGate> {
  const upstream = new URL(target);
  let opened: Promise<void> | null = null;
  let open: () => void = () => {};

  const calls: GateCall[] = [];
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(out);
  };

  const server = createServer((req, res) => {
    const atMs = performance.timeOrigin + performance.now();
    res.once('finish', () =>
      calls.push({ path: (req.url ?? '').split('?')[0]!, atMs, tookMs: performance.timeOrigin + performance.now() - atMs }),
    );
    if (!opened || req.method !== 'POST' || req.url !== USAGE_PATH) return forward(req, res);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), HOLD_AT_MOST_MS)));
    void Promise.race([opened.then(() => 'open' as const), late]).then((outcome) => {
      clearTimeout(timer);
      if (outcome === 'open') return forward(req, res);
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end('{"error":{"code":"bench_ingestion_held","message":"held by the bench"}}');
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    hold() {
      opened ??= new Promise<void>((resolve) => (open = resolve));
    },
    release() {
      open();
      opened = null;
    },
    close: () =>
      new Promise<void>((resolve) => {
        open();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
