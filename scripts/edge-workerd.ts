// Runs the bundled edge Worker on plain `workerd serve` (the production path; Miniflare is the
// local one): writes the generated configs and the bundle into a private runtime directory, starts
// the workerd binary from node_modules in its own process group with the bindings in its
// environment — by default two processes, the edge and its usage outbox, as in production —
// waits for /healthz and the outbox's socket, and stops the whole group on close.

import { spawn } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { EdgeBindings, RunningEdge } from './edge-miniflare.ts';
import { EDGE_BINDING_NAMES, renderOutboxConfig, renderWorkerdConfig } from './workerd-config.ts';

export const WORKERD_BINARY = join(dirname(createRequire(import.meta.url).resolve('workerd/package.json')), 'bin', 'workerd');

const READY_TIMEOUT_MS = 20_000;

async function waitUntilServing(url: string, exited: () => string | null): Promise<void> {
  const started = Date.now();
  for (;;) {
    const failure = exited();
    if (failure !== null) throw new Error(failure);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > READY_TIMEOUT_MS) throw new Error(`workerd did not serve ${url} within ${READY_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The port of the `http` socket as workerd reports it on its control descriptor; null if it exits or stays silent first. */
async function listeningPort(control: Readable, exited: Promise<void>): Promise<number | null> {
  const lines = createInterface({ input: control });
  const reported = (async () => {
    for await (const line of lines) {
      const message = JSON.parse(line) as { event?: string; socket?: string; port?: number };
      if (message.event === 'listen' && message.socket === 'http' && typeof message.port === 'number') return message.port;
    }
    return null;
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), READY_TIMEOUT_MS)));
  try {
    return await Promise.race([reported, exited.then(() => null), timeout]);
  } finally {
    clearTimeout(timer);
    lines.close();
  }
}

export async function startWorkerdEdge(options: {
  bundle: string;
  /** 0: any free port, the one workerd reports on its control descriptor (no race with another process for a port chosen in advance). */
  port: number;
  host?: string;
  bindings: EdgeBindings;
  verbose?: boolean;
  /** Where the manifest vault lives; a fresh directory inside the runtime dir when absent. */
  persistDir?: string;
  /** `host:port` for workerd's V8 inspector (CPU profiles: bench/edge-cpu.ts); off when absent. */
  inspectorAddr?: string;
  /**
   * Run the usage outbox in a second workerd process, reached over a Unix socket (the production
   * layout, deploy/k3s/edge.yaml; default true), or inside the edge's own process (false).
   */
  outboxProcess?: boolean;
  /** V8 flags for the edge process (scripts/workerd-config.ts). */
  v8Flags?: readonly string[];
  /** The usage journal in a directory of its own (scripts/workerd-config.ts; bench A/Bs). */
  journalDir?: string;
}): Promise<RunningEdge> {
  const host = options.host ?? '127.0.0.1';
  // 0700 by mkdtemp; it holds the config and bundle only, never a secret (those go through env).
  const dir = mkdtempSync(join(tmpdir(), 'taas-workerd-'));
  copyFileSync(options.bundle, join(dir, 'index.js'));
  // Tests and `npm start` reach the control plane and suppliers on loopback.
  const vaultDir = options.persistDir ?? join(dir, 'vault');
  mkdirSync(vaultDir, { recursive: true });
  const split = options.outboxProcess !== false;
  const outboxSocket = join(dir, 'outbox.sock');
  const allow = ['public', 'private', 'local'] as const;
  const journal = options.journalDir ? { journalDir: options.journalDir } : {};
  writeFileSync(
    join(dir, 'config.capnp'),
    renderWorkerdConfig({
      bundle: 'index.js',
      address: `${host}:${options.port}`,
      allow,
      vaultDir,
      ...(split ? { outboxAddress: `unix:${outboxSocket}` } : {}),
      ...(options.v8Flags ? { v8Flags: options.v8Flags } : {}),
      ...journal,
    }),
  );
  if (split) writeFileSync(join(dir, 'outbox.capnp'), renderOutboxConfig({ bundle: 'index.js', address: `unix:${outboxSocket}`, allow, vaultDir, ...journal }));

  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    // The parent's own values of edge bindings must not leak into this node.
    if (value !== undefined && !(EDGE_BINDING_NAMES as readonly string[]).includes(name)) env[name] = value;
  }
  Object.assign(env, options.bindings);

  // Descriptor 3: workerd reports there the port each socket got (`--control-fd`).
  const edgeArgs = ['serve', join(dir, 'config.capnp'), '--control-fd=3', ...(options.inspectorAddr ? [`--inspector-addr=${options.inspectorAddr}`] : [])];
  // Split: a shell starts the outbox process and restarts it whenever it exits (as the cluster
  // restarts a container; removing the socket file workerd leaves behind), then becomes the edge
  // process (exec), so all share one process group (stopped, or killed in tests, as one node)
  // whose leader is the edge. The outbox's current pid is written to a file (tests kill it alone).
  // The restarts stop once the edge is gone (`$$` is the shell that became the edge): a harness
  // killed without stopping its nodes must not leave outbox processes restarting forever.
  const outboxPidFile = join(dir, 'outbox.pid');
  const supervise =
    'outbox() { while kill -0 $$ 2>/dev/null; do rm -f "$2"; "$0" serve "$1" 3>&- & echo $! > "$3"; wait $!; sleep 1; done; }; outbox "$1" "$2" "$3" 3>&- & shift 3; exec "$0" "$@"';
  const [command, args] = split
    ? ['/bin/sh', ['-c', supervise, WORKERD_BINARY, join(dir, 'outbox.capnp'), outboxSocket, outboxPidFile, ...edgeArgs]]
    : [WORKERD_BINARY, edgeArgs];
  const child = spawn(command, args, {
    cwd: dir,
    env,
    detached: true, // its own process group, stopped as one
    stdio: ['ignore', options.verbose ? 'inherit' : 'pipe', 'pipe', 'pipe'],
  });
  /** The node's log lines (console output is workerd's stdout) and errors, interleaved: the last ~4,000 characters. */
  let output = '';
  // EDGE_WORKERD_LOG: a file that gets the whole log too (benches: the first line of a fault,
  // not only the last 4,000 characters). Log lines hold metadata only, never prompt text.
  const logFile = process.env.EDGE_WORKERD_LOG;
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
    if (logFile) appendFileSync(logFile, d);
  };
  child.stdout?.on('data', keep);
  child.stderr!.on('data', (d: Buffer) => {
    keep(d);
    if (options.verbose) process.stderr.write(d);
  });
  let exitCode: number | null = null;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? 128 : 1);
      resolve();
    }),
  );

  const stopGroup = async () => {
    if (child.pid !== undefined) {
      const signalGroup = (signal: NodeJS.Signals): void => {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          // the whole group is gone
        }
      };
      // The whole group, also when the edge already exited on its own (a port in use): the outbox
      // process and its supervisor outlive it, and the supervisor would restart the outbox forever.
      signalGroup('SIGTERM');
      if (exitCode === null) await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      signalGroup('SIGKILL');
      if (exitCode === null) await exited;
    }
    // The outbox process can outlive the group leader by a moment, still writing its files.
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  };

  const failure = () => (exitCode === null ? null : `workerd exited with ${exitCode}: ${output}`);
  let url = '';
  try {
    const port = await listeningPort(child.stdio[3] as Readable, exited);
    if (port === null) throw new Error(failure() ?? `workerd did not report its port within ${READY_TIMEOUT_MS} ms`);
    url = `http://${host}:${port}`;
    await waitUntilServing(url, failure);
    // Until its outbox listens the edge holds events in memory only, and a caller may kill the node at once.
    for (const started = Date.now(); split && !existsSync(outboxSocket); await new Promise((resolve) => setTimeout(resolve, 20))) {
      if (failure() !== null) throw new Error(failure()!);
      if (Date.now() - started > READY_TIMEOUT_MS) throw new Error(`the outbox process did not listen on ${outboxSocket} within ${READY_TIMEOUT_MS} ms: ${output}`);
    }
  } catch (err) {
    await stopGroup();
    throw err;
  }
  const outboxPid = (): number | null => {
    try {
      return Number(readFileSync(outboxPidFile, 'utf8').trim()) || null;
    } catch {
      return null;
    }
  };
  return { url, close: stopGroup, logTail: () => output, ...(child.pid === undefined ? {} : { pid: child.pid }), ...(split ? { outboxPid } : {}) };
}
