// Real processes for end-to-end tests: the control plane as its own Node process (started the way
// operators start it), free loopback ports, and waiting for a condition.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Ports handed to another process's server: below the kernel's ephemeral range (32768–60999). */
const SERVER_PORTS = { from: 20_000, to: 32_000 };

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free loopback port for a server another process opens. Not from listen(0): such a port is an
 * ephemeral one, which an outgoing connection may take between this check and the child's listen
 * (seen in CI: the control plane's EADDRINUSE). Below the ephemeral range only another test
 * drawing the same port could, and the draw is random.
 */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const port = SERVER_PORTS.from + Math.floor(Math.random() * (SERVER_PORTS.to - SERVER_PORTS.from));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port between ${SERVER_PORTS.from} and ${SERVER_PORTS.to}`);
}

export interface ControlPlaneProcess {
  url: string;
  bootstrapToken: string | null;
  stop(): Promise<void>;
}

/** Spawns `control-plane/main.ts`; resolves once it listens, with the token it printed on first start. */
export async function spawnControlPlane(env: Record<string, string>): Promise<ControlPlaneProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'control-plane/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let errors = '';
  child.stderr!.on('data', (d: Buffer) => (errors += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`control plane did not start:\n${output}\n${errors}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      const match = /"msg":"control plane listening","url":"([^"]+)"/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`control plane exited with ${code}:\n${output}\n${errors}`));
    });
  });
  return {
    url,
    bootstrapToken: /^\s+(tpat_\w+)\s*$/m.exec(output)?.[1] ?? null,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

export async function waitFor(check: () => Promise<boolean>, options: { timeoutMs: number; intervalMs?: number }): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > options.timeoutMs) throw new Error(`condition not met within ${options.timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}
