// A WebSocket-to-TCP bridge in Neon's wsproxy shape (`ws://host:port/v1?address=H:P`, raw
// Postgres protocol bytes in binary messages), so the Neon driver can reach a plain Postgres.
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

export interface DbBridgeOptions {
  /** The one address this bridge forwards to; any other `?address=` is refused. */
  target: { host: string; port: number };
  listenHost?: string;
  listenPort?: number;
}

export interface DbBridge {
  port: number;
  close(): Promise<void>;
}

export async function startDbBridge(options: DbBridgeOptions): Promise<DbBridge> {
  const { target, listenHost = '127.0.0.1', listenPort = 0 } = options;
  const wss = new WebSocketServer({ noServer: true });
  const open = new Set<{ ws: WebSocket; tcp: Socket }>();
  const server = createServer((_req, res) => {
    res.writeHead(426, { connection: 'close' }).end();
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    // Never an open relay: an address other than the configured one gets no connection at all.
    // Nor a browser's: a WebSocket opened by a web page always carries an Origin (the driver in
    // this process sends none), and a page must not reach the database through a loopback port.
    if (req.headers.origin !== undefined || !isAllowed(req.url, target)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const pair = { ws, tcp: relay(ws, target) };
      open.add(pair);
      pair.tcp.once('close', () => open.delete(pair));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, listenHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('db-bridge: no TCP address');

  return {
    port: address.port,
    async close() {
      for (const { ws, tcp } of open) {
        tcp.destroy();
        ws.terminate();
      }
      open.clear();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function isAllowed(rawUrl: string | undefined, target: { host: string; port: number }): boolean {
  if (rawUrl === undefined) return false;
  let url: URL;
  try {
    url = new URL(rawUrl, 'ws://bridge');
  } catch {
    // `GET //a:b` is no URL: refused, where the throw used to take the control plane down with it.
    return false;
  }
  if (url.pathname !== '/v1') return false;
  const address = url.searchParams.get('address') ?? '';
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return false;
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const port = address.slice(colon + 1);
  return host === target.host.replace(/^\[(.*)\]$/, '$1').toLowerCase() && port === String(target.port);
}

function relay(ws: WebSocket, target: { host: string; port: number }): Socket {
  const tcp = connect({ host: target.host, port: target.port });
  tcp.setNoDelay(true);
  const watch = terminateWatcher();

  ws.on('message', (data: RawData) => {
    if (tcp.writableEnded) return;
    const bytes = toBuffer(data);
    tcp.write(bytes);
    // The driver's Client.end() sends Terminate, then waits for the server to hang up without
    // closing its WebSocket. PostgreSQL hangs up on Terminate; pglite-socket only on EOF.
    if (watch(bytes)) tcp.end();
  });
  ws.on('close', () => tcp.destroy());
  ws.on('error', () => tcp.destroy());

  tcp.on('data', (chunk: Buffer) => ws.send(chunk, { binary: true }));
  tcp.on('close', () => ws.close());
  tcp.on('error', () => ws.terminate());
  return tcp;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/**
 * Follows the frontend message framing across WebSocket messages (the driver coalesces several
 * protocol messages into one and may split one across several) and answers true once a Terminate
 * ('X', length 4) has been seen. Untyped startup-phase messages come first; after an SSL or GSS
 * request the stream may be encrypted, so the watcher stops looking (the driver used with this
 * bridge never asks for either).
 */
function terminateWatcher(): (bytes: Buffer) => boolean {
  let pending: Buffer = Buffer.alloc(0);
  let startup = true;
  let blind = false;
  return (bytes) => {
    if (blind) return false;
    pending = pending.length === 0 ? bytes : Buffer.concat([pending, bytes]);
    for (;;) {
      const headerLength = startup ? 4 : 5;
      if (pending.length < headerLength) return false;
      const length = startup ? pending.readInt32BE(0) : pending.readInt32BE(1) + 1;
      if (pending.length < length) return false;
      if (startup) {
        const code = length >= 8 ? pending.readInt32BE(4) : 0;
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          blind = true;
          return false;
        }
        // StartupMessage ends the untyped phase; a CancelRequest ends the connection anyway.
        startup = false;
      } else if (pending[0] === 0x58 && length === 5) {
        return true;
      }
      pending = pending.subarray(length);
    }
  };
}
