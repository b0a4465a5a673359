// `npm run bench`: the edge's overhead against direct calls to the fake supplier, and against two
// reference hops (a bare Node HTTP pass-through and a bare pass-through Worker on plain workerd),
// in one run on loopback. Brings up its own stack on its own ports with throwaway state, measures
// each workload on every target back to back, prints tables with ratios, writes
// bench/results/*.json, and cleans up (also on error, on a signal and at the time limit).
// BENCH_HOLD_INGESTION=true holds the control plane's usage ingestion back while an edge is
// measured and drains it after (bench/ingestion-gate.ts): the edge as with its control plane on
// other machines instead of on these same cores.

import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { forkChild, runMain, type Child } from './children.ts';
import { startLoadClient, type LoadClient } from './client.ts';
import type { LoadResult, LoadSpec } from './load.ts';
import { codeFacts, machineFacts } from './machine.ts';
import type { PacedSpec } from './paced.ts';
import { cpuByRole, descendantsNamed, machineCpuMs, peakRssSampler, rssByRole, type ProcessRoles } from './procs.ts';
import { renderReport, TARGETS, writeReport, type BenchReport, type Phase, type Target, type TargetRun } from './report.ts';
import { durableAnswersSetting, startStack, type Stack } from './stack.ts';
import type { StreamResult, StreamSpec } from './ttfb.ts';
import { startWorkerdHop } from './workerd-hop.ts';

const env = (name: string, fallback: number): number => {
  const value = Number(process.env[name] || fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
};

const SETTINGS = {
  edgePort: env('BENCH_EDGE_PORT', 7400),
  controlPlanePort: env('BENCH_CP_PORT', 7401),
  supplierPort: env('BENCH_SUPPLIER_PORT', 7402),
  hopPort: env('BENCH_HOP_PORT', 7403),
  workerdHopPort: env('BENCH_WORKERD_HOP_PORT', 7404),
  plainEdgePort: env('BENCH_PLAIN_EDGE_PORT', 7405),
  ingestionGatePort: env('BENCH_INGESTION_GATE_PORT', 7406),
  seconds: env('BENCH_SECONDS', 8),
  pacedSeconds: env('BENCH_PACED_SECONDS', 5),
  pacedSockets: env('BENCH_PACED_SOCKETS', 64),
  rates: (process.env.BENCH_RATES || '200,500').split(',').map(Number),
  connections: env('BENCH_CONNECTIONS', 20),
  maxConnections: env('BENCH_MAX_CONNECTIONS', 50),
  warmupSeconds: env('BENCH_WARMUP_SECONDS', 2),
  streamRequests: env('BENCH_STREAM_REQUESTS', 300),
  streamConcurrency: env('BENCH_STREAM_CONCURRENCY', 8),
  completionTokens: env('BENCH_COMPLETION_TOKENS', 16),
  manifestRefreshSeconds: env('BENCH_MANIFEST_REFRESH_SECONDS', 300),
  /** Keys in the manifest the edges hold while measured (RSS with a 100k-key manifest). */
  manifestKeys: env('BENCH_MANIFEST_KEYS', 100_000),
  /** What the end of an answer waits for (durableAnswersSetting): its journal file, the outbox's commit, or nothing. */
  durableAnswers: durableAnswersSetting(),
  /** 'true': the control plane ingests an edge's usage only after its measurement (not on the cores meanwhile). */
  holdIngestion: process.env.BENCH_HOLD_INGESTION === 'true' ? 'true' : 'false',
  timeLimitSeconds: env('BENCH_TIME_LIMIT_SECONDS', 300),
};

const HOP_ENTRY = fileURLToPath(new URL('./bare-hop.ts', import.meta.url));
const DRAIN_LIMIT_MS = 20_000;
const PROMPT = [{ role: 'user', content: 'Say hello' }];

interface Endpoint {
  url: string;
  headers: Record<string, string>;
  model: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

const chatBody = (model: string, stream: boolean): string =>
  JSON.stringify(stream ? { model, messages: PROMPT, stream: true, stream_options: { include_usage: true } } : { model, messages: PROMPT });

/**
 * One non-streamed and one streamed request must answer 200 before anything is measured. A 503
 * while an edge is still loading its first manifest (100k keys take seconds to build, sign and
 * verify) is retried for up to a minute.
 */
async function check(target: Target, endpoint: Endpoint): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (const stream of [false, true]) {
    for (;;) {
      const response = await fetch(endpoint.url, { method: 'POST', headers: endpoint.headers, body: chatBody(endpoint.model, stream) });
      const text = await response.text();
      if (response.status === 200) break;
      if (response.status !== 503 || Date.now() > deadline) {
        throw new Error(`${target} answered ${response.status} to a ${stream ? 'streamed' : 'plain'} request: ${text.slice(0, 300)}`);
      }
      await sleep(1000);
    }
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineFacts();
  const cleanups: (() => Promise<void>)[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const step of cleanups.reverse()) await step().catch((err: unknown) => log(`cleanup: ${String(err)}`));
    })());
  const abort = (why: string, code: number): void => {
    log(why);
    void cleanup().finally(() => process.exit(code));
  };
  setTimeout(() => abort(`time limit of ${SETTINGS.timeLimitSeconds} s reached, stopping`, 1), SETTINGS.timeLimitSeconds * 1000).unref();
  process.once('SIGINT', () => abort('interrupted', 130));
  process.once('SIGTERM', () => abort('terminated', 143));

  try {
    log('starting the stack (control plane on PGlite or DATABASE_URL, fake supplier, edge under Miniflare)');
    const stack: Stack = await startStack(
      { edge: SETTINGS.edgePort, plainEdge: SETTINGS.plainEdgePort, controlPlane: SETTINGS.controlPlanePort, supplier: SETTINGS.supplierPort },
      {
        MANIFEST_REFRESH_SECONDS: String(SETTINGS.manifestRefreshSeconds),
        MANIFEST_MAX_STALE_SECONDS: String(SETTINGS.manifestRefreshSeconds * 2),
        USAGE_DURABLE_BEFORE_END: SETTINGS.durableAnswers,
      },
      { manifestKeys: SETTINGS.manifestKeys, ...(SETTINGS.holdIngestion === 'true' ? { ingestionGatePort: SETTINGS.ingestionGatePort } : {}) },
    );
    cleanups.push(stack.close);
    // The plain-workerd node is two processes: the edge and, its child, the usage outbox.
    const plainOutbox = descendantsNamed(stack.plainEdgePid, 'workerd');
    const edgeWorkerd = descendantsNamed(process.pid, 'workerd').filter((pid) => pid !== stack.plainEdgePid && !plainOutbox.includes(pid));
    const hop: Child = await forkChild(HOP_ENTRY, [String(SETTINGS.hopPort), stack.supplierOrigin]);
    cleanups.push(hop.stop);
    const workerdHop = await startWorkerdHop(SETTINGS.workerdHopPort, stack.supplierOrigin);
    cleanups.push(workerdHop.close);
    const hopWorkerd = [workerdHop.pid];
    const client: LoadClient = await startLoadClient();
    cleanups.push(client.stop);

    const behaviour = await fetch(`${stack.supplierOrigin}/__control/behaviour`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ completionTokens: SETTINGS.completionTokens, interChunkDelayMs: 0, firstByteDelayMs: 0 }),
    });
    if (!behaviour.ok) throw new Error(`setting the fake supplier's behaviour answered ${behaviour.status}`);

    const json = { 'content-type': 'application/json' };
    const endpoints: Record<Target, Endpoint> = {
      direct: { url: `${stack.supplierOrigin}/v1/chat/completions`, headers: { ...json, authorization: 'Bearer bench-direct' }, model: stack.upstreamModel },
      'bare hop': { url: `${hop.firstLine}/v1/chat/completions`, headers: { ...json, authorization: 'Bearer bench-direct' }, model: stack.upstreamModel },
      'workerd hop': { url: `${workerdHop.url}/v1/chat/completions`, headers: { ...json, authorization: 'Bearer bench-direct' }, model: stack.upstreamModel },
      edge: { url: `${stack.edgeUrl}/v1/chat/completions`, headers: { ...json, authorization: `Bearer ${stack.apiKey}` }, model: stack.model },
      'edge on workerd': { url: `${stack.plainEdgeUrl}/v1/chat/completions`, headers: { ...json, authorization: `Bearer ${stack.apiKey}` }, model: stack.model },
    };
    for (const target of TARGETS) await check(target, endpoints[target]);

    if (edgeWorkerd.length === 0 || hopWorkerd.length === 0) log('a workerd process was not found under this one: its memory and CPU will read 0');
    const roles: ProcessRoles = {
      main: [process.pid],
      'wd edge': edgeWorkerd,
      'wd edge2': [stack.plainEdgePid],
      'wd outbox': plainOutbox,
      'wd hop': hopWorkerd,
      supplier: [stack.supplierPid],
      'node hop': [hop.pid],
      client: [client.pid],
    };

    // Metering stays on: after each edge run, wait until the control plane has stored the usage
    // events of every 2xx answer so far, so ingestion does not overlap the next measurement.
    let edgeOk = 2;
    let longestDrainMs = 0;
    const storedUsage = async (): Promise<number> =>
      (await stack.db.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_events WHERE key_id = $1', [stack.keyId])).rows[0]?.n ?? 0;
    const drainUsage = async (): Promise<void> => {
      const from = performance.now();
      while ((await storedUsage()) < edgeOk && performance.now() - from < DRAIN_LIMIT_MS) await sleep(100);
      longestDrainMs = Math.max(longestDrainMs, performance.now() - from);
    };

    async function measure<R extends LoadResult | StreamResult>(target: Target, work: () => Promise<R>): Promise<TargetRun<R>> {
      const isEdge = target === 'edge' || target === 'edge on workerd';
      const cpuBefore = cpuByRole(roles);
      if (isEdge) stack.ingestion?.hold();
      const result = await work();
      stack.ingestion?.release();
      const cpuAfter = cpuByRole(roles);
      const ok = result.ok;
      const cpuUsPerRequest = Object.fromEntries(Object.keys(roles).map((role) => [role, ok > 0 ? (((cpuAfter[role] ?? 0) - (cpuBefore[role] ?? 0)) * 1000) / ok : 0]));
      if (isEdge) {
        edgeOk += ok;
        await drainUsage();
      }
      await sleep(200);
      return { target, result, cpuUsPerRequest };
    }

    const request = (target: Target, stream: boolean): { url: string; headers: Record<string, string>; body: string } => ({
      url: endpoints[target].url,
      headers: endpoints[target].headers,
      body: chatBody(endpoints[target].model, stream),
    });
    const loadSpec = (target: Target, connections: number, durationSeconds: number, overallRate?: number): LoadSpec => ({
      ...request(target, false),
      connections,
      durationSeconds,
      ...(overallRate === undefined ? {} : { overallRate }),
    });
    const pacedSpec = (target: Target, rate: number): PacedSpec => ({
      ...request(target, false),
      rate,
      durationSeconds: SETTINGS.pacedSeconds,
      maxSockets: SETTINGS.pacedSockets,
    });
    const streamSpec = (target: Target, requests: number, concurrency: number): StreamSpec => ({ ...request(target, true), requests, concurrency });

    const memoryBefore = rssByRole(roles);
    const peak = peakRssSampler(roles);
    // Everything else the machine runs meanwhile is noise in these numbers: measure how much.
    const sumCpu = (): number => Object.values(cpuByRole(roles)).reduce((a, b) => a + b, 0);
    const busyBefore = { machine: machineCpuMs(), ours: sumCpu(), at: performance.now() };

    log(`warm-up: ${SETTINGS.warmupSeconds} s of plain and 100 streamed requests per target`);
    for (const target of TARGETS) {
      await measure(target, () => client.load(loadSpec(target, SETTINGS.connections, SETTINGS.warmupSeconds, Math.max(...SETTINGS.rates))));
      await measure(target, () => client.streams(streamSpec(target, 100, SETTINGS.streamConcurrency)));
    }

    const load: Phase<LoadResult>[] = [];
    for (const rate of SETTINGS.rates) {
      const bursts: Phase<LoadResult> = {
        title: `Non-streaming chat completion at ${rate} req/s via autocannon overallRate (${SETTINGS.connections} connections, ${SETTINGS.seconds} s; each connection sends its quota back to back at every 1 s tick)`,
        runs: [],
      };
      for (const target of TARGETS) {
        log(`${rate} req/s (autocannon), ${target}`);
        bursts.runs.push(await measure(target, () => client.load(loadSpec(target, SETTINGS.connections, SETTINGS.seconds, rate))));
      }
      const paced: Phase<LoadResult> = {
        title: `Non-streaming chat completion at ${rate} req/s evenly paced (open loop, latency from each request's due time, up to ${SETTINGS.pacedSockets} sockets, ${SETTINGS.pacedSeconds} s)`,
        runs: [],
        aim: { pacedRate: rate },
      };
      for (const target of TARGETS) {
        log(`${rate} req/s (paced), ${target}`);
        paced.runs.push(await measure(target, () => client.paced(pacedSpec(target, rate))));
      }
      load.push(bursts, paced);
    }
    const max: Phase<LoadResult> = {
      title: `Non-streaming chat completion, maximum throughput (${SETTINGS.maxConnections} connections, no rate limit, ${SETTINGS.seconds} s)`,
      runs: [],
      aim: 'max throughput',
    };
    for (const target of TARGETS) {
      log(`max throughput, ${target}`);
      max.runs.push(await measure(target, () => client.load(loadSpec(target, SETTINGS.maxConnections, SETTINGS.seconds))));
    }
    load.push(max);

    const streams: Phase<StreamResult>[] = [];
    for (const concurrency of [1, SETTINGS.streamConcurrency]) {
      const phase: Phase<StreamResult> = {
        title: `Streamed chat completion, ${SETTINGS.completionTokens} tokens, no inter-chunk delay: ${SETTINGS.streamRequests} requests at concurrency ${concurrency} (fetch)`,
        runs: [],
        ...(concurrency === 1 ? { aim: 'ttfb' as const } : {}),
      };
      for (const target of TARGETS) {
        log(`streams at concurrency ${concurrency}, ${target}`);
        phase.runs.push(await measure(target, () => client.streams(streamSpec(target, SETTINGS.streamRequests, concurrency))));
      }
      streams.push(phase);
    }

    const machineCpu = machineCpuMs();
    const capacityMs = (performance.now() - busyBefore.at) * availableParallelism();
    const cpuShares = {
      otherProcesses: Math.max(0, machineCpu.processes - busyBefore.machine.processes - (sumCpu() - busyBefore.ours)) / capacityMs,
      interrupts: (machineCpu.interrupts - busyBefore.machine.interrupts) / capacityMs,
      steal: (machineCpu.steal - busyBefore.machine.steal) / capacityMs,
    };
    if (cpuShares.otherProcesses + cpuShares.steal > 0.05) log('other processes or the hypervisor took more than 5% of the CPU during the measurements: the numbers are noisy');
    const report: BenchReport = {
      machine,
      code: { ...codeFacts(), edgeBundleSha256: stack.edgeBundleSha256 },
      settings: { ...SETTINGS, rates: SETTINGS.rates.join(',') },
      database: stack.database === 'pglite' ? 'embedded PGlite (temp dir)' : `PostgreSQL via DATABASE_URL (${stack.database})`,
      load,
      streams,
      memoryMiB: { before: memoryBefore, after: rssByRole(roles), peak: peak.stop() },
      metering: { edgeOk, usageEventsStored: await storedUsage(), longestDrainMs },
      elapsedSeconds: (performance.now() - started) / 1000,
      cpuShares,
    };
    process.stdout.write(renderReport(report) + '\n');
    log(`results written to ${writeReport(report)}`);
  } finally {
    await cleanup();
  }
}

runMain(main, log);
