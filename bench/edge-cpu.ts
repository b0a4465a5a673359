// `npm run bench:edge-cpu`: a short, focused measurement of the edge on plain workerd — maximum
// throughput, p50/p99, and CPU per request of its process, of its main thread (where the isolate
// and its Durable Objects run) and of its usage-outbox process, how much of the time that thread
// waits for a CPU, and the control plane's
// CPU for the ingestion — against the bare Node hop in the same run, a few rounds in alternation
// so drift on a noisy machine hits all alike. EDGE_CPU_COMPARE_BUNDLE runs another build (e.g. the
// last commit's dist/edge/index.js) beside this one, alternating: an A/B on the same machine state;
// EDGE_CPU_COMPARE_OUTBOX_PROCESS=false|true runs that one with the other outbox layout, and
// EDGE_CPU_COMPARE_V8_FLAGS with V8 flags of its own. EDGE_CPU_STREAMS=<n> adds, each round, n
// streamed requests one at a time to each target: time to first byte and to the end.
// EDGE_CPU_STREAMED=true makes the load streamed requests. EDGE_CPU_HOLD_INGESTION=true holds the
// control plane's usage ingestion back while an edge is measured and lets it drain after
// (bench/ingestion-gate.ts): the edge as with the control plane on other machines, not
// competing for these two cores.
// EDGE_CPU_PROFILE=<file.cpuprofile> adds a round under workerd's V8 inspector (profile written
// there; top modules and functions by self time printed); EDGE_CPU_PERF=<file> a round under
// `perf record -g` (native code too). Settings: EDGE_CPU_SECONDS (8), EDGE_CPU_ROUNDS (3),
// EDGE_CPU_CONNECTIONS (50), EDGE_CPU_RATE (paced instead of max throughput; p50 also from each
// request's actual send, and how late the client's timer sent it), EDGE_CPU_NO_DRAIN
// (do not wait for ingestion after a run), BENCH_MANIFEST_KEYS (10000), BENCH_DURABLE_ANSWERS;
// ports 7410–7417.

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { forkChild, runMain } from './children.ts';
import { startLoadClient } from './client.ts';
import type { LoadResult } from './load.ts';
import type { PacedResult } from './paced.ts';
import { cpuMs, descendantsNamed, mainThreadSched } from './procs.ts';
import { durableAnswersSetting, startStack } from './stack.ts';
import { EDGE_BUNDLE } from '../scripts/build-edge.ts';

const num = (name: string, fallback: number): number => Number(process.env[name] || fallback);
const SECONDS = num('EDGE_CPU_SECONDS', 8);
const ROUNDS = num('EDGE_CPU_ROUNDS', 3);
const CONNECTIONS = num('EDGE_CPU_CONNECTIONS', 50);
const PROFILE = process.env.EDGE_CPU_PROFILE || '';
const PERF = process.env.EDGE_CPU_PERF || '';
/** Requests per second, evenly paced, instead of as many as possible. */
const RATE = num('EDGE_CPU_RATE', 0);
/** A bundle of another build (e.g. the last commit's) run beside this one and measured in alternation. */
const COMPARE = process.env.EDGE_CPU_COMPARE_BUNDLE || '';
/** 'true' / 'false': the comparison build's outbox in a process of its own or in the edge's (default: as this one). */
const COMPARE_OUTBOX = process.env.EDGE_CPU_COMPARE_OUTBOX_PROCESS || '';
/** V8 flags for the comparison build's edge process, space-separated (e.g. GC settings). */
const COMPARE_V8 = process.env.EDGE_CPU_COMPARE_V8_FLAGS || '';
/** Streamed requests per target and round (one at a time), for time to first byte; 0: none. */
const STREAMS = num('EDGE_CPU_STREAMS', 0);
const HOLD_INGESTION = process.env.EDGE_CPU_HOLD_INGESTION === 'true';
/** 'true': the load itself is streamed chat completions (the fake supplier's default length). */
const STREAMED = process.env.EDGE_CPU_STREAMED === 'true';

interface Target {
  name: string;
  /** The workerd process whose CPU is measured; 0 for the bare hop (not measured). */
  pid: number;
  /** Its recent log lines, shown when requests failed. */
  logs: () => string;
  url: string;
  headers: Record<string, string>;
  body: string;
  streamBody: string;
}
const INSPECTOR = '127.0.0.1:7416';
const HOP_ENTRY = fileURLToPath(new URL('./bare-hop.ts', import.meta.url));
const log = (line: string): void => void process.stderr.write(`edge-cpu: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const body = (model: string, stream = false): string =>
  JSON.stringify({ model, messages: [{ role: 'user', content: 'Say hello' }], ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}) });

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/** Starts V8's sampling profiler in workerd's isolate; the returned function stops it and gives the profile. */
async function startProfile(): Promise<() => Promise<CpuProfile>> {
  const targets = (await (await fetch(`http://${INSPECTOR}/json/list`)).json()) as { webSocketDebuggerUrl: string; title?: string }[];
  const target = targets.find((t) => t.title?.includes('edge')) ?? targets[0];
  if (!target) throw new Error('workerd inspector lists no isolate');
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let nextId = 0;
  const call = (method: string, params: object = {}): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      const onMessage = (data: WebSocket.RawData): void => {
        const message = JSON.parse(data.toString()) as { id?: number; result?: Record<string, unknown>; error?: unknown };
        if (message.id !== id) return;
        ws.off('message', onMessage);
        if (message.error) reject(new Error(JSON.stringify(message.error)));
        else resolve(message.result ?? {});
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 100 });
  await call('Profiler.start');
  return async () => {
    const { profile } = (await call('Profiler.stop')) as { profile: CpuProfile };
    ws.close();
    return profile;
  };
}

/** Self time by function and by bundle module (esbuild marks each module with a `// path` line). */
function summarize(profile: CpuProfile): string {
  const lines = readFileSync(EDGE_BUNDLE, 'utf8').split('\n');
  const moduleAt: string[] = [];
  let current = '(bundle prelude)';
  for (const line of lines) {
    const match = /^\/\/ ((?:edge|shared|node_modules)\/\S+)$/.exec(line);
    if (match) current = match[1]!.replace(/^node_modules\/(@[^/]+\/[^/]+|[^/]+)\/.*/, 'node_modules/$1');
    moduleAt.push(current);
  }
  const selfUs = new Map<number, number>();
  profile.samples.forEach((node, i) => selfUs.set(node, (selfUs.get(node) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    total += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const module = url.endsWith('index.js') ? (moduleAt[lineNumber] ?? '?') : url ? url : `(${functionName || 'native'})`;
    const fn = `${functionName || '(anonymous)'} ${module}${url.endsWith('index.js') ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    byModule.set(module, (byModule.get(module) ?? 0) + us);
  }
  const top = (map: Map<string, number>, n: number): string =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => `  ${((100 * us) / total).toFixed(1).padStart(5)} %  ${name}`)
      .join('\n');
  return `self time by module:\n${top(byModule, 25)}\nself time by function:\n${top(byFunction, 40)}`;
}

/** Milliseconds workerd's main thread spent runnable but waiting for a CPU (the machine is busy). */
const mainThreadQueuedMs = (pid: number): number => mainThreadSched(pid)?.queuedMs ?? 0;

/** CPU of workerd's main thread (tid = pid), where the isolate and its Durable Objects run. */
function mainThreadCpuMs(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

async function main(): Promise<void> {
  const stack = await startStack(
    { edge: 7410, plainEdge: 7411, controlPlane: 7412, supplier: 7413 },
    {
      MANIFEST_REFRESH_SECONDS: '300',
      MANIFEST_MAX_STALE_SECONDS: '600',
      USAGE_DURABLE_BEFORE_END: durableAnswersSetting(),
    },
    {
      manifestKeys: num('BENCH_MANIFEST_KEYS', 10_000),
      ...(PROFILE ? { plainEdgeInspectorAddr: INSPECTOR } : {}),
      ...(HOLD_INGESTION ? { ingestionGatePort: 7417 } : {}),
      ...(COMPARE ? { comparison: { bundle: COMPARE, port: 7415, ...(COMPARE_OUTBOX ? { outboxProcess: COMPARE_OUTBOX === 'true' } : {}), ...(COMPARE_V8 ? { v8Flags: COMPARE_V8.split(' ') } : {}) } } : {}),
    },
  );
  const hop = await forkChild(HOP_ENTRY, ['7414', stack.supplierOrigin]);
  const client = await startLoadClient();
  try {
    const json = { 'content-type': 'application/json' };
    const edgeTarget = (url: string, pid: number, name: string, logs: () => string): Target => ({
      name,
      pid,
      logs,
      url: `${url}/v1/chat/completions`,
      headers: { ...json, authorization: `Bearer ${stack.apiKey}` },
      body: body(stack.model, STREAMED),
      streamBody: body(stack.model, true),
    });
    const edge = edgeTarget(stack.plainEdgeUrl, stack.plainEdgePid, 'edge', stack.plainEdgeLogs);
    const other = stack.comparison ? edgeTarget(stack.comparison.url, stack.comparison.pid, 'comparison edge', stack.comparison.logs) : null;
    const bare: Target = { name: 'bare hop', pid: 0, logs: () => '', url: `${hop.firstLine}/v1/chat/completions`, headers: { ...json, authorization: 'Bearer bench-direct' }, body: body(stack.upstreamModel, STREAMED), streamBody: body(stack.upstreamModel, true) };
    for (const target of other ? [edge, other] : [edge]) {
      for (let deadline = Date.now() + 60_000; ; await sleep(1000)) {
        const res = await fetch(target.url, { method: 'POST', headers: target.headers, body: target.body });
        await res.text();
        if (res.ok) break;
        if (Date.now() > deadline) throw new Error(`${target.name} answered ${res.status}`);
      }
    }
    const stored = async (): Promise<number> =>
      (await stack.db.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_events WHERE key_id = $1', [stack.keyId])).rows[0]?.n ?? 0;
    let edgeOk = other ? 2 : 1;
    /** One run; an edge's CPU includes delivering the run's usage events afterwards. */
    const run = async (target: Target, seconds: number): Promise<{ rps: number; p50: number; p99: number; paced: string; cpuUs: number; outboxUs: number; mainUs: number; mainBusy: number; mainQueued: number; controlPlaneUs: number }> => {
      const isEdge = target.pid !== 0;
      // A node on plain workerd may run its usage outbox in a second workerd process, a child of the edge's.
      const outboxPids = isEdge ? descendantsNamed(target.pid, 'workerd') : [];
      const outboxCpu = (): number => outboxPids.reduce((sum, pid) => sum + cpuMs(pid), 0);
      const outboxBefore = outboxCpu();
      const before = cpuMs(target.pid);
      const mainBefore = mainThreadCpuMs(target.pid);
      const queuedBefore = mainThreadQueuedMs(target.pid);
      const hereBefore = process.cpuUsage();
      const startedMs = performance.now();
      if (isEdge) stack.ingestion?.hold();
      // At a fixed rate the group commit batches alike in every run: CPU per request compares across runs.
      const result: LoadResult & Partial<PacedResult> = RATE
        ? await client.paced({ ...target, rate: RATE, durationSeconds: seconds, maxSockets: 64 })
        : await client.load({ ...target, connections: CONNECTIONS, durationSeconds: seconds });
      // Paced latency runs from each due time; the client's own timer lateness is part of it, shown apart.
      const paced = result.fromSentMs && result.lateMs ? ` (from the send p50 ${result.fromSentMs.p50.toFixed(2)} ms; the client's timer late by p50 ${result.lateMs.p50.toFixed(2)} / p99 ${result.lateMs.p99.toFixed(2)} ms)` : '';
      const loadMs = performance.now() - startedMs;
      stack.ingestion?.release();
      const mainLoaded = mainThreadCpuMs(target.pid) - mainBefore;
      const queued = mainThreadQueuedMs(target.pid) - queuedBefore;
      if (isEdge && !process.env.EDGE_CPU_NO_DRAIN) {
        edgeOk += result.ok;
        for (const from = Date.now(); (await stored()) < edgeOk && Date.now() - from < 20_000; ) await sleep(100);
      }
      const cpu = cpuMs(target.pid) - before;
      const outboxMs = outboxCpu() - outboxBefore;
      const here = process.cpuUsage(hereBefore);
      const controlPlaneMs = (here.user + here.system) / 1000;
      const mainCpu = mainThreadCpuMs(target.pid) - mainBefore;
      const failures = Object.keys(result.failures).length ? ` failures ${JSON.stringify(result.failures)}` : '';
      if (failures || result.errors) log(`${target.name}:${failures} errors ${result.errors}; its last log lines:\n${target.logs().split('\n').slice(-12).join('\n')}`);
      const per = (ms: number): number => (isEdge && result.ok > 0 ? (ms * 1000) / result.ok : 0);
      return { rps: result.okPerSecond, p50: result.latencyMs.p50, p99: result.latencyMs.p99, paced, cpuUs: per(cpu), outboxUs: per(outboxMs), mainUs: per(mainCpu), mainBusy: mainLoaded / loadMs, mainQueued: queued / loadMs, controlPlaneUs: per(controlPlaneMs) };
    };
    const idleBefore = cpuMs(edge.pid);
    await sleep(3000);
    log(`idle edge: ${((cpuMs(edge.pid) - idleBefore) / 3).toFixed(1)} ms CPU per second`);
    log('warm-up');
    for (const target of [bare, edge, ...(other ? [other] : [])]) await run(target, 3);
    const rows: string[] = [];
    const describe = (name: string, e: Awaited<ReturnType<typeof run>>, hopRps: number): string =>
      `${name} ${e.rps.toFixed(0)} req/s (${(e.rps / hopRps).toFixed(2)}× hop), p50 ${e.p50.toFixed(2)} / p99 ${e.p99.toFixed(1)} ms${e.paced}, ${e.cpuUs.toFixed(0)} µs CPU/request (process, incl. delivery)${e.outboxUs ? ` + ${e.outboxUs.toFixed(0)} µs in its outbox process` : ''}, ${e.mainUs.toFixed(0)} µs on its main thread (busy ${(100 * e.mainBusy).toFixed(0)} %, waiting for a CPU ${(100 * e.mainQueued).toFixed(0)} % under load); control plane (this process: ingestion into PGlite) ${e.controlPlaneUs.toFixed(0)} µs/request`;
    for (let round = 1; round <= ROUNDS; round++) {
      const h = await run(bare, SECONDS);
      // The comparison goes first in odd rounds and second in even ones: drift hits both alike.
      const order = other ? (round % 2 ? [other, edge] : [edge, other]) : [edge];
      const parts = [`round ${round}: bare hop ${h.rps.toFixed(0)} req/s, p50 ${h.p50.toFixed(2)} / p99 ${h.p99.toFixed(1)} ms${h.paced}`];
      for (const target of order) parts.push(describe(target.name, await run(target, SECONDS), h.rps));
      if (STREAMS) {
        for (const target of [bare, ...order]) {
          if (target.pid) stack.ingestion?.hold();
          const r = await client.streams({ url: target.url, headers: target.headers, body: target.streamBody, requests: STREAMS, concurrency: 1 });
          stack.ingestion?.release();
          if (target.pid) edgeOk += r.ok;
          parts.push(`${target.name} streamed (1 at a time, ${r.ok} ok, ${r.failed} failed): TTFB p50 ${r.ttfbMs.p50.toFixed(2)} / p99 ${r.ttfbMs.p99.toFixed(2)} ms, total p50 ${r.totalMs.p50.toFixed(2)} ms`);
        }
      }
      rows.push(parts.join('\n  '));
      log(rows.at(-1)!);
    }
    if (PERF) {
      // Native code too (workerd's streams, HTTP, SQLite, V8's builtins): `perf report -i FILE`.
      const perf = spawn('perf', ['record', '-F', '2000', '-g', '-p', String(stack.plainEdgePid), '-o', PERF, '--', 'sleep', String(SECONDS)], { stdio: 'ignore' });
      const e = await run(edge, SECONDS);
      await new Promise((resolve) => perf.once('exit', resolve));
      rows.push(`perf round: edge ${e.rps.toFixed(0)} req/s, ${e.cpuUs.toFixed(0)} µs CPU/request; perf data in ${PERF}`);
    }
    if (PROFILE) {
      const stop = await startProfile();
      const e = await run(edge, SECONDS);
      const profile = await stop();
      writeFileSync(PROFILE, JSON.stringify(profile));
      rows.push(`profiled round: edge ${e.rps.toFixed(0)} req/s, ${e.cpuUs.toFixed(0)} µs CPU/request; profile in ${PROFILE}`, summarize(profile));
    }
    for (const from = Date.now(); (await stored()) < edgeOk && Date.now() - from < 20_000; ) await sleep(100);
    const stored_ = await stored();
    rows.push(`usage events stored ${stored_} for ${edgeOk} edge 2xx answers`);
    process.stdout.write(rows.join('\n') + '\n');
  } finally {
    await client.stop();
    await hop.stop();
    await stack.close();
  }
}

runMain(main, log);
