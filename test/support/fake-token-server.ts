// A local OAuth 2.0 token endpoint (node:http on 127.0.0.1, ephemeral port) for refresher tests:
// records each refresh request and answers as the test scripts it. No network beyond loopback.

import { createServer, type IncomingMessage } from 'node:http';

export interface TokenRequest {
  form: URLSearchParams;
  authorization: string | null;
  contentType: string | null;
}

export interface TokenAnswer {
  status: number;
  body: unknown;
  delayMs?: number;
}

export interface FakeTokenServer {
  url: string;
  requests: TokenRequest[];
  /** How to answer from now on; the default issues `at-<n>`/`rt-<n>` valid for an hour. */
  answer(fn: (request: TokenRequest, n: number) => TokenAnswer): void;
  close(): Promise<void>;
}

async function read(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startFakeTokenServer(): Promise<FakeTokenServer> {
  const requests: TokenRequest[] = [];
  let answer = (_request: TokenRequest, n: number): TokenAnswer => ({
    status: 200,
    body: { access_token: `at-${n}-fresh-access`, token_type: 'Bearer', expires_in: 3600, refresh_token: `rt-${n}-rotated-refresh` },
  });
  const server = createServer(async (req, res) => {
    const request = { form: new URLSearchParams(await read(req)), authorization: req.headers.authorization ?? null, contentType: req.headers['content-type'] ?? null };
    requests.push(request);
    const { status, body, delayMs } = answer(request, requests.length);
    if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/html' : 'application/json' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/oauth/token`,
    requests,
    answer: (fn) => {
      answer = fn;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
