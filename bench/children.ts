// Child Node processes of the benchmark (fake supplier, bare hop, load client): forked with the
// parent's tsx loader, ready when they print their first stdout line, stopped by their own PID.
// Each child also exits when its IPC channel closes, and any child still running when this process
// exits is killed: Miniflare's SIGINT/SIGTERM handler calls process.exit before async cleanup ends.

import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface Child {
  pid: number;
  /** The first line the child printed (its URL, or "ready"). */
  firstLine: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 3_000;

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function forkChild(entry: string, args: string[]): Promise<Child> {
  const child = fork(entry, args, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };
  try {
    const lines = createInterface({ input: child.stdout! });
    const firstLine = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${entry} did not start within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      child.once('exit', (code) => reject(new Error(`${entry} exited with ${code} before it was ready`)));
      lines.once('line', (line) => {
        clearTimeout(timer);
        resolve(line.trim());
      });
    });
    // Later output (none expected) is passed on rather than left to fill the pipe.
    lines.on('line', (line) => process.stderr.write(`[${entry}] ${line}\n`));
    return { pid: child.pid!, firstLine, process: child, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A benchmark's entry: exit 0 once `main` is done, or log its failure and exit 1 (the exit hook above kills any child left). */
export function runMain(main: () => Promise<void>, log: (line: string) => void): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
}
