// The reference hop: a bare node:http pass-through to the fake supplier, run as its own process.
// Usage (forked by run.ts): tsx bench/bare-hop.ts <port> <upstream origin>; prints its URL when listening.

import { Agent, createServer, request } from 'node:http';

const port = Number(process.argv[2]);
const upstream = new URL(process.argv[3] ?? 'http://127.0.0.1:7402');
const agent = new Agent({ keepAlive: true });

const server = createServer((req, res) => {
  const headers = { ...req.headers, host: upstream.host };
  const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  up.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(up);
});

server.listen(port, '127.0.0.1', () => console.log(`http://127.0.0.1:${port}`));
const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGTERM', stop);
// The benchmark process is gone (its IPC channel closed): do not outlive it.
process.once('disconnect', stop);
