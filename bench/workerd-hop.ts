// The second reference hop: a bare pass-through Worker on plain `workerd serve`, the same binary
// and compatibility date the edge runs on in production ("edge on workerd"). Edge on workerd
// minus this = the cost of the edge's own code in the same runtime.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPATIBILITY_DATE } from '../scripts/edge-miniflare.ts';
import { WORKERD_BINARY } from '../scripts/edge-workerd.ts';

const PASS_THROUGH = `
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.UPSTREAM + url.pathname + url.search, request);
  },
};
`;

/**
 * The least a metering gateway does in this runtime, as a floor for the edge (bench/breakdown.ts):
 * parse the JSON body, hash the presented key, forward a re-serialized body, read the answer
 * whole, parse it for its usage, and answer its bytes. No auth lookup, policy or usage event.
 */
export const JSON_WORKER = `
const encoder = new TextEncoder();
const decoder = new TextDecoder();
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const body = await request.json();
    const key = (request.headers.get('authorization') ?? '').slice(7);
    await crypto.subtle.digest('SHA-256', encoder.encode(key));
    const upstream = await fetch(env.UPSTREAM + url.pathname, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: request.headers.get('authorization') ?? '' },
      body: JSON.stringify(body),
    });
    const bytes = await upstream.arrayBuffer();
    if (!JSON.parse(decoder.decode(bytes)).usage) return new Response('no usage', { status: 502 });
    return new Response(bytes, { status: upstream.status, headers: { 'content-type': 'application/json' } });
  },
};
`;

/**
 * JSON_WORKER plus what the edge's durable answer adds to it: before answering, a small file (a
 * usage event's size) written through workerd's disk service (binding DISK), as the usage journal
 * does (edge/usage-journal.ts). Its files are left for the run's temp directory to take.
 */
export const JSON_DISK_WORKER = JSON_WORKER.replace(
  "    if (!JSON.parse(decoder.decode(bytes)).usage) return new Response('no usage', { status: 502 });",
  `    const answer = JSON.parse(decoder.decode(bytes));
    if (!answer.usage) return new Response('no usage', { status: 502 });
    const written = await env.DISK.fetch('https://disk/journal/' + crypto.randomUUID() + '.json', { method: 'PUT', body: JSON.stringify([{ id: crypto.randomUUID(), usage: answer.usage, model: answer.model, padding: 'x'.repeat(400) }]) });
    await written.body?.cancel();
    if (!written.ok) return new Response('journal write failed', { status: 502 });`,
);
if (JSON_DISK_WORKER === JSON_WORKER) throw new Error('JSON_DISK_WORKER: JSON_WORKER changed; update the replacement');

const config = (port: number, upstreamOrigin: string, diskDir?: string) => `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "hop", worker = .hop),
    (name = "outbound", network = (allow = ["public", "private", "local"])),${diskDir ? `\n    (name = "disk", disk = (path = ${JSON.stringify(diskDir)}, writable = true)),` : ''}
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "hop")],
);
const hop :Workerd.Worker = (
  modules = [(name = "hop.js", esModule = embed "hop.js")],
  compatibilityDate = "${COMPATIBILITY_DATE}",
  bindings = [(name = "UPSTREAM", text = ${JSON.stringify(upstreamOrigin)})${diskDir ? ', (name = "DISK", service = "disk")' : ''}],
  globalOutbound = "outbound",
);
`;

/** The pass-through Worker, or `script` (an ES module, e.g. JSON_WORKER), on plain workerd forwarding to `upstreamOrigin`. */
/** `diskDir`: a disk service there as binding DISK (JSON_DISK_WORKER writes into its `journal/`). */
export async function startWorkerdHop(port: number, upstreamOrigin: string, script = PASS_THROUGH, diskDir?: string): Promise<{ url: string; pid: number; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'taas-workerd-hop-'));
  writeFileSync(join(dir, 'hop.js'), script);
  if (diskDir) mkdirSync(join(diskDir, 'journal'), { recursive: true });
  writeFileSync(join(dir, 'config.capnp'), config(port, upstreamOrigin, diskDir));
  const child = spawn(WORKERD_BINARY, ['serve', join(dir, 'config.capnp')], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  // Serving once anything answers (the supplier's 404 for an unknown path is an answer).
  for (const started = Date.now(); ; ) {
    try {
      await (await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1000) })).body?.cancel();
      break;
    } catch {
      if (child.exitCode !== null || Date.now() - started > 20_000) {
        await close();
        throw new Error(`the workerd hop did not serve ${url}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { url, pid: child.pid!, close };
}
