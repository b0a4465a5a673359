import { Client, type ClientConfig } from '@neondatabase/serverless';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { startDbBridge, type DbBridge } from '../../control-plane/db-bridge.ts';
import { openDatabase, sendGatheredInMicrotask } from '../../control-plane/db.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';

/** A TCP server that records what reaches it, standing in for a database the bridge may or may not reach. */
async function recordingServer(): Promise<{ port: number; sockets: Socket[]; received: Buffer[]; ended: Promise<void>; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  const received: Buffer[] = [];
  let markEnded = () => {};
  const ended = new Promise<void>((resolve) => (markEnded = resolve));
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    socket.on('data', (chunk) => received.push(chunk));
    socket.on('end', () => markEnded());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    port: address.port,
    sockets,
    received,
    ended,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Opens a WebSocket to the bridge: 'open', or the HTTP status it was refused with. */
async function tryUpgrade(bridgePort: number, path: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; outcome: 'open' } | { outcome: number | 'error' }> {
  const ws = new WebSocket(`ws://127.0.0.1:${bridgePort}${path}`, { headers });
  return new Promise((resolve) => {
    ws.once('open', () => resolve({ ws, outcome: 'open' }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ outcome: res.statusCode ?? 'error' });
      ws.terminate();
    });
    ws.once('error', () => resolve({ outcome: 'error' }));
  });
}

const startup = Buffer.from('0000000800030000', 'hex'); // length 8, protocol 3.0, no parameters
const terminate = Buffer.from([0x58, 0, 0, 0, 4]);

describe('db-bridge', () => {
  let allowed: Awaited<ReturnType<typeof recordingServer>>;
  let forbidden: Awaited<ReturnType<typeof recordingServer>>;
  let bridge: DbBridge;

  beforeAll(async () => {
    allowed = await recordingServer();
    forbidden = await recordingServer();
    bridge = await startDbBridge({ target: { host: '127.0.0.1', port: allowed.port } });
  });
  afterAll(async () => {
    await bridge.close();
    await allowed.close();
    await forbidden.close();
  });

  it('refuses any address other than its one target, and no connection reaches it', async () => {
    const attempts = [
      `/v1?address=127.0.0.1:${forbidden.port}`,
      `/v1?address=localhost:${allowed.port}`,
      `/v1?address=10.0.0.1:${allowed.port}`,
      '/v1?address=127.0.0.1:5433',
      `/v1?address=127.0.0.1:${allowed.port}0`,
      `/v2?address=127.0.0.1:${allowed.port}`,
      '/v1',
    ];
    for (const path of attempts) {
      const result = await tryUpgrade(bridge.port, path);
      expect(result.outcome, path).toBe(403);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(forbidden.sockets).toHaveLength(0);
    expect(allowed.sockets).toHaveLength(0);
  });

  it("refuses a browser's upgrade (an Origin), and survives a request line that is no URL", async () => {
    const fromPage = await tryUpgrade(bridge.port, `/v1?address=127.0.0.1:${allowed.port}`, { origin: 'https://evil.example' });
    expect(fromPage.outcome).toBe(403);
    // `GET //a:b` threw inside the upgrade handler: an uncaught error that ended the process.
    const raw = connect({ host: '127.0.0.1', port: bridge.port });
    raw.write('GET //a:b HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      raw.on('data', (chunk) => (text += chunk.toString()));
      raw.on('close', () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 403/);
    // Still serving, and nothing reached the database.
    expect((await tryUpgrade(bridge.port, '/v1')).outcome).toBe(403);
    expect(allowed.sockets).toHaveLength(0);
  });

  it('relays bytes to its target and half-closes after a Terminate split across messages', async () => {
    const result = await tryUpgrade(bridge.port, `/v1?address=127.0.0.1:${allowed.port}`);
    if (result.outcome !== 'open') throw new Error(`upgrade refused: ${result.outcome}`);
    // A query ('Q') whose body contains an 'X' must not be mistaken for Terminate.
    const query = Buffer.concat([Buffer.from([0x51, 0, 0, 0, 6]), Buffer.from('X\0')]);
    result.ws.send(Buffer.concat([startup, query, terminate.subarray(0, 2)]));
    result.ws.send(terminate.subarray(2));
    await allowed.ended;
    expect(Buffer.concat(allowed.received)).toEqual(Buffer.concat([startup, query, terminate]));
    result.ws.terminate();
  });
});

/** A bare driver Client through a fresh bridge, configured per instance like db.ts does. */
async function bridgedClient(target: { host: string; port: number }, config: ClientConfig): Promise<{ client: Client; bridge: DbBridge }> {
  const bridge = await startDbBridge({ target });
  const client = new Client(config);
  Object.assign(client.neonConfig, {
    webSocketConstructor: WebSocket,
    wsProxy: (host: string, port: number | string) => `127.0.0.1:${bridge.port}/v1?address=${host}:${port}`,
    useSecureWebSocket: false,
    pipelineConnect: false,
  });
  client.on('error', () => {});
  return { client, bridge };
}

describe('databases', () => {
  let lite: TestDatabase;
  let pg: TestDatabase | undefined;

  beforeAll(async () => {
    lite = await createTestDatabase({ target: 'pglite' });
    if (postgresAvailable()) pg = await createTestDatabase({ target: 'postgres' });
  });
  afterAll(async () => {
    await lite?.drop();
    await pg?.drop();
  });

  function targets(): [string, TestDatabase][] {
    return pg === undefined ? [['pglite', lite]] : [['pglite', lite], ['postgres', pg]];
  }

  it('commits a transaction, and rolls it back and rethrows when the callback throws', async () => {
    for (const [name, { db }] of targets()) {
      await db.query('CREATE TABLE tx_probe (n int)');
      await db.transaction((tx) => tx.query('INSERT INTO tx_probe VALUES (1)'));
      const boom = new Error('boom');
      await expect(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO tx_probe VALUES (2)');
          throw boom;
        }),
      ).rejects.toBe(boom);
      await expect(db.transaction((tx) => tx.query('INSERT INTO tx_probe VALUES (1/0)'))).rejects.toThrow(/division by zero/);
      const { rows } = await db.query<{ n: number }>('SELECT n FROM tx_probe ORDER BY n');
      expect(rows, name).toEqual([{ n: 1 }]);
      // The connection is usable after the rollback (PGlite has only the one).
      expect((await db.query('SELECT 1 AS one')).rows, name).toEqual([{ one: 1 }]);
    }
  });

  it('keeps one session for the whole withConnection callback', async () => {
    for (const [name, { db }] of targets()) {
      const seen = await db.withConnection(async (conn) => {
        await conn.query("SET application_name = 'with-connection-probe'");
        const { rows } = await conn.query<{ name: string }>("SELECT current_setting('application_name') AS name");
        return rows[0]?.name;
      });
      expect(seen, name).toBe('with-connection-probe');
    }
  });

  it('fails loudly, instead of waiting forever, when a one-connection Database is used inside its own transaction', async () => {
    await expect(lite.db.transaction(() => lite.db.query('SELECT 1'))).rejects.toThrow(/use its tx\/conn handle/);
    await expect(lite.db.withConnection(() => lite.db.transaction(async () => {}))).rejects.toThrow(/use its tx\/conn handle/);
    // Work started inside a callback but run after it finished is not nested.
    let later: Promise<unknown> = Promise.resolve();
    await lite.db.transaction(async () => {
      later = new Promise((resolve) => setTimeout(resolve, 10)).then(() => lite.db.query('SELECT 1 AS one'));
    });
    await expect(later).resolves.toMatchObject({ rows: [{ one: 1 }] });
  });

  it('sends a statement at once, never from a timer (the driver coalesces writes in a setTimeout(0): ≥ 1 ms each)', async () => {
    const realSetTimeout = globalThis.setTimeout;
    for (const [name, { db }] of targets()) {
      await db.query('SELECT 1'); // a pooled connection is open: only the statement itself is left
      vi.useFakeTimers({ toFake: ['setTimeout'] });
      try {
        const answer = db.query<{ one: number }>('SELECT 1 AS one').then((r) => r.rows[0]?.one);
        const stuck = new Promise<string>((resolve) => realSetTimeout(() => resolve('waiting on a timer'), 2000));
        expect(await Promise.race([answer, stuck]), name).toBe(1);
      } finally {
        vi.useRealTimers();
      }
    }
  });

  it('returns bigint columns as strings and reports rowCount', async () => {
    for (const [name, { db }] of targets()) {
      const result = await db.query('SELECT 9007199254740993::int8 AS big FROM generate_series(1, 3)');
      expect(result, name).toEqual({ rows: [{ big: '9007199254740993' }, { big: '9007199254740993' }, { big: '9007199254740993' }], rowCount: 3 });
    }
  });

  it.skipIf(!postgresAvailable())('runs a Database on PostgreSQL and one on PGlite side by side in one process', async () => {
    const [a, b] = await Promise.all([
      pg!.db.query<{ v: string }>('SELECT version() AS v'),
      lite.db.query<{ v: string }>('SELECT version() AS v'),
    ]);
    expect(a.rows[0]?.v).toMatch(/^PostgreSQL 15/);
    expect(b.rows[0]?.v).toMatch(/PGlite/);
    expect(pg!.db.target).toBe('postgres');
    expect(lite.db.target).toBe('pglite');
    // Interleaved traffic on both, each through its own bridge and driver settings.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? pg!.db : lite.db).query<{ n: number }>('SELECT $1::int AS n', [i])),
    );
    expect(results.map((r) => r.rows[0]?.n)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it.skipIf(!postgresAvailable())('survives the server dropping an idle pooled connection', async () => {
    const errors: Error[] = [];
    const db = await openDatabase({ url: pg!.url!, onError: (error) => errors.push(error) });
    try {
      const { rows } = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await pg!.db.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
      await expect.poll(() => errors.length, { timeout: 5_000 }).toBeGreaterThan(0);
      expect((await db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await db.close();
    }
  });

  it.skipIf(!postgresAvailable())('ends a bare driver Client through the bridge promptly', async () => {
    const url = new URL(pg!.url!);
    const { client, bridge } = await bridgedClient({ host: url.hostname, port: Number(url.port || 5432) }, { connectionString: pg!.url! });
    try {
      await client.connect();
      await client.query('SELECT 1');
      const started = performance.now();
      await client.end();
      expect(performance.now() - started).toBeLessThan(1_000);
    } finally {
      await bridge.close();
    }
  });

  it('hangs up on PGlite after each discarded connection, so its few connection slots never run out', async () => {
    // pglite-socket answers Terminate by waiting for EOF, and the bridge sends that EOF. Without
    // it every discarded connection would stay open server-side until the 4 slots were gone.
    for (let i = 0; i < 8; i++) {
      await expect(
        lite.db.withConnection(async (conn) => {
          await conn.query('SELECT 1');
          throw new Error('discard this connection');
        }),
      ).rejects.toThrow('discard this connection');
    }
    expect((await lite.db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('closes promptly', async () => {
    for (const [name, test] of targets()) {
      await Promise.all(Array.from({ length: 3 }, () => test.db.query('SELECT pg_sleep(0.05)')));
      const started = performance.now();
      await test.db.close();
      expect(performance.now() - started, name).toBeLessThan(1_000);
    }
  });
});

describe('sendGatheredInMicrotask', () => {
  it('sends what one synchronous run writes as one frame, and a Terminate at once with what is pending', async () => {
    const sent: Buffer[] = [];
    const socket = { rawWrite: (_d: Uint8Array) => {}, ws: { send: (d: Uint8Array) => void sent.push(Buffer.from(d)) } };
    sendGatheredInMicrotask(socket);
    socket.rawWrite(Buffer.from('P'));
    socket.rawWrite(Buffer.from('B'));
    socket.rawWrite(Buffer.from('S'));
    expect(sent).toEqual([]);
    await Promise.resolve();
    expect(sent.map(String)).toEqual(['PBS']);
    socket.rawWrite(Buffer.from('Q'));
    socket.rawWrite(terminate);
    // Synchronously: the driver closes the WebSocket right after writing Terminate.
    expect(sent.map((b) => b.toString('hex'))).toEqual([Buffer.from('PBS').toString('hex'), Buffer.concat([Buffer.from('Q'), terminate]).toString('hex')]);
    await Promise.resolve();
    expect(sent).toHaveLength(2);
  });
});

describe('openDatabase', () => {
  it('picks Neon directly for a .neon.tech host without connecting until the first query', async () => {
    const db = await openDatabase({ url: 'postgres://user:secret@ep-example-123456.eu-central-1.aws.neon.tech/neondb?sslmode=require' });
    expect(db.target).toBe('neon');
    await db.close();
  });

  it('closes without hanging even when the database is unreachable', async () => {
    const db = await openDatabase({ url: 'postgres://postgres@127.0.0.1:1/postgres', onError: () => {} });
    expect(db.target).toBe('postgres');
    await expect(db.query('SELECT 1')).rejects.toThrow();
    const started = performance.now();
    await db.close();
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
