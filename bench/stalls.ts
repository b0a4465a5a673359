// `npm run bench:stalls`: where the edge's slow requests come from. An even paced load on the edge
// on plain workerd (the production layout, with its outbox process), every request's due time
// and latency kept, beside a 1 ms trace of the main threads of the edge, its outbox process, the
// fake supplier and the load client (CPU time and wait for a CPU, from /proc/<pid>/task/<pid>/schedstat; the kernel adds a running
// thread's time in ticks of ~4 ms, so runs are counted in 4 ms steps) and every call the edge made to the control plane
// (through bench/ingestion-gate.ts, which also holds usage ingestion back meanwhile: the control
// plane as on other machines). A stall is a run of consecutive requests each slower than
// STALLS_SLOW_MS; for the longest, the report shows how much of it each main thread was running
// (an unbroken run is a pause in that process: garbage collection, see README "Performance"),
// how long each waited for a CPU (the machine was busy) and which
// control-plane calls it overlapped (requests waiting for a lease). `EDGE_CPU_PERF` in
// bench:edge-cpu shows what the thread runs. Settings: STALLS_RATE (200), STALLS_SECONDS (20),
// STALLS_SLOW_MS (20), BENCH_MANIFEST_KEYS (100000), BENCH_DURABLE_ANSWERS (true, commit or false); ports 7430–7434.

import { startLoadClient } from './client.ts';
import { descendantsNamed, mainThreadSched } from './procs.ts';
import { runMain } from './children.ts';
import type { GateCall } from './ingestion-gate.ts';
import type { TimelineEntry } from './paced.ts';
import { durableAnswersSetting, startStack } from './stack.ts';

const num = (name: string, fallback: number): number => Number(process.env[name] || fallback);
const RATE = num('STALLS_RATE', 200);
const SECONDS = num('STALLS_SECONDS', 20);
const SLOW_MS = num('STALLS_SLOW_MS', 20);
const KEYS = num('BENCH_MANIFEST_KEYS', 100_000);
const DURABLE = durableAnswersSetting();
const SHOWN = 8;
const log = (line: string): void => void process.stderr.write(`stalls: ${line}\n`);
const unixNow = (): number => performance.timeOrigin + performance.now();

/** [Unix ms, CPU ms, queued ms] of one thread, cumulative, sampled every millisecond until stopped. */
function traceThread(pid: number): () => [number, number, number][] {
  const samples: [number, number, number][] = [];
  const read = (): void => {
    const sched = mainThreadSched(pid);
    // A process that is gone ends its trace there.
    if (sched) samples.push([unixNow(), sched.cpuMs, sched.queuedMs]);
  };
  const timer = setInterval(read, 1);
  return () => {
    clearInterval(timer);
    return samples;
  };
}

interface Stall {
  fromMs: number;
  toMs: number;
  requests: number;
}

/** Maximal runs of requests (in due order) each slower than SLOW_MS or failed; a run ends when the last of them did. */
function stallsOf(timeline: TimelineEntry[]): Stall[] {
  const stalls: Stall[] = [];
  let current: Stall | null = null;
  for (const [due, latency] of [...timeline].sort((a, b) => a[0] - b[0])) {
    if (latency >= 0 && latency < SLOW_MS) {
      current = null;
      continue;
    }
    const end = due + Math.max(latency, SLOW_MS);
    if (current) {
      current.toMs = Math.max(current.toMs, end);
      current.requests += 1;
    } else stalls.push((current = { fromMs: due, toMs: end, requests: 1 }));
  }
  return stalls;
}

const STEP_MS = 4;

/** CPU and queue time of a traced thread within [from, to], and its longest stretch of running without a break (in 4 ms steps). */
function threadIn(trace: [number, number, number][], from: number, to: number): { cpuMs: number; queuedMs: number; longestRunMs: number } {
  const inside = trace.filter(([t]) => t >= from && t <= to);
  if (inside.length < 2) return { cpuMs: 0, queuedMs: 0, longestRunMs: 0 };
  const first = inside[0]!;
  const last = inside[inside.length - 1]!;
  let longestRunMs = 0;
  let run = 0;
  let step = first;
  for (const sample of inside) {
    if (sample[0] - step[0] < STEP_MS) continue;
    // Busy for (nearly) the whole step: part of an unbroken run.
    run = sample[1] - step[1] >= 0.8 * (sample[0] - step[0]) ? run + (sample[0] - step[0]) : 0;
    longestRunMs = Math.max(longestRunMs, run);
    step = sample;
  }
  return { cpuMs: last[1] - first[1], queuedMs: last[2] - first[2], longestRunMs };
}

const describe = (name: string, t: { cpuMs: number; queuedMs: number; longestRunMs: number }): string =>
  `${name} ran ${t.cpuMs.toFixed(0)} ms (unbroken ${t.longestRunMs.toFixed(0)}), queued ${t.queuedMs.toFixed(0)}`;

async function main(): Promise<void> {
  log(`starting the stack (${KEYS} extra keys in the manifest)`);
  const stack = await startStack(
    { edge: 7430, plainEdge: 7431, controlPlane: 7432, supplier: 7433 },
    { MANIFEST_REFRESH_SECONDS: '300', MANIFEST_MAX_STALE_SECONDS: '600', USAGE_DURABLE_BEFORE_END: DURABLE },
    { manifestKeys: KEYS, ingestionGatePort: 7434 },
  );
  const client = await startLoadClient();
  try {
    const spec = {
      url: `${stack.plainEdgeUrl}/v1/chat/completions`,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.apiKey}` },
      body: JSON.stringify({ model: stack.model, messages: [{ role: 'user', content: 'Say hello' }] }),
      rate: RATE,
      maxSockets: 50,
    };
    log('warm-up');
    await client.paced({ ...spec, durationSeconds: 3 });
    const gate = stack.ingestion!;
    gate.hold();
    const firstCall = gate.calls.length;
    // Every process a request passes through: a stall in any of them is a stall of the request.
    const traced: Record<string, number> = {
      edge: stack.plainEdgePid,
      outbox: descendantsNamed(stack.plainEdgePid, 'workerd')[0] ?? 0,
      supplier: stack.supplierPid,
      client: client.pid,
    };
    const stops = Object.entries(traced).map(([name, pid]) => [name, traceThread(pid)] as const);
    log(`${RATE} req/s for ${SECONDS} s`);
    const result = await client.paced({ ...spec, durationSeconds: SECONDS, timeline: true });
    const traces = stops.map(([name, stop]) => [name, stop()] as const);
    gate.release();
    const calls: GateCall[] = gate.calls.slice(firstCall).filter((c) => c.path !== '/node/v1/usage' && !c.path.startsWith('/node/v1/manifest'));

    const timeline = result.timeline ?? [];
    const stalls = stallsOf(timeline).sort((a, b) => b.toMs - b.fromMs - (a.toMs - a.fromMs));
    const inStalls = stalls.reduce((n, s) => n + s.requests, 0);
    const { latencyMs: l } = result;
    const lines = [
      `edge on plain workerd, ${RATE} req/s paced for ${SECONDS} s, ${KEYS} extra keys, durable answers ${DURABLE}, bundle ${stack.edgeBundleSha256.slice(0, 12)}`,
      `latency ms: p50 ${l.p50.toFixed(2)}, p99 ${l.p99.toFixed(1)}, max ${l.max.toFixed(1)}; ${result.ok} ok, ${result.errors} failed, non-2xx ${JSON.stringify(result.failures)}`,
      ...traces.map(([name, trace]) => {
        const whole = threadIn(trace, -Infinity, Infinity);
        return `${name}'s main thread: ${((whole.cpuMs / (SECONDS * 1000)) * 100).toFixed(0)} % busy, longest unbroken run ${whole.longestRunMs.toFixed(0)} ms, ${whole.queuedMs.toFixed(0)} ms waiting for a CPU`;
      }),
      `stalls (requests each slower than ${SLOW_MS} ms in a row): ${stalls.length}, holding ${inStalls} requests (${((100 * inStalls) / Math.max(1, timeline.length)).toFixed(1)} %)`,
      `lease calls to the control plane during the run: ${calls.length}`,
    ];
    for (const stall of stalls.slice(0, SHOWN)) {
      const span = stall.toMs - stall.fromMs;
      const overlapping = calls.filter((c) => c.atMs < stall.toMs && c.atMs + c.tookMs > stall.fromMs);
      lines.push(
        `  ${span.toFixed(0).padStart(4)} ms, ${String(stall.requests).padStart(3)} requests: ${traces.map(([name, trace]) => describe(name, threadIn(trace, stall.fromMs, stall.toMs))).join('; ')}` +
          (overlapping.length ? `; lease calls: ${overlapping.map((c) => `${c.tookMs.toFixed(0)} ms`).join(', ')}` : ''),
      );
    }
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await client.stop();
    await stack.close();
  }
}

runMain(main, log);
