// `npm run bench:breakdown`: where the time an intermediary adds to one request sits. One request
// at a time (a short pause between, as at a low rate), through each target in turn: the bare Node
// hop, the bare pass-through Worker on plain workerd, a minimal metering Worker (JSON_WORKER in
// bench/workerd-hop.ts: parse, hash the key, forward, read and parse the answer), the edge on
// plain workerd, and the same edge with durable answers off (USAGE_DURABLE_BEFORE_END=false).
// The fake supplier notes when each request arrives and when its answer is written, on the
// machine's monotonic clock, as the client notes when it sent and when the answer ended, so each
// request splits into: there (client → supplier), supplier, back (supplier → client). Medians
// per round; the rounds alternate the targets, so drift hits all alike.
// BREAKDOWN_COMPARE_BUNDLE=<dist/edge/index.js of another build> makes the last target that build,
// with this run's settings (an A/B of the way there and back); BREAKDOWN_COMPARE_JOURNAL_DIR=<dir>
// makes it this build with its usage journal in that directory (e.g. a tmpfs);
// BREAKDOWN_DISK_WORKER_DIRS=<dir>[,<dir>] adds the metering Worker writing a journal-sized file
// there before each answer (JSON_DISK_WORKER). Settings: BREAKDOWN_REQUESTS (800 per target and
// round), BREAKDOWN_ROUNDS (3), BREAKDOWN_GAP_MS (4), BREAKDOWN_RATE (req/s, open loop, instead of
// one at a time; a list such as 0,200 measures both in every round), BENCH_MANIFEST_KEYS (10000),
// BENCH_DURABLE_ANSWERS; ingestion is held while a target is measured. Ports 7430–7440.

import { Agent, request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { forkChild, runMain } from './children.ts';
import { durableAnswersSetting, startStack } from './stack.ts';
import { summarize } from './stats.ts';
import { JSON_DISK_WORKER, JSON_WORKER, startWorkerdHop } from './workerd-hop.ts';
import { EDGE_BUNDLE } from '../scripts/build-edge.ts';

const num = (name: string, fallback: number): number => Number(process.env[name] || fallback);
const REQUESTS = num('BREAKDOWN_REQUESTS', 800);
const ROUNDS = num('BREAKDOWN_ROUNDS', 3);
const GAP_MS = num('BREAKDOWN_GAP_MS', 4);
/**
 * Requests per second, open loop (each sent at its due time, whether or not the one before has
 * ended); 0: one at a time. A list (`0,200`) measures each target in each mode every round.
 */
const RATES = (process.env.BREAKDOWN_RATE || '0').split(',').map(Number);
const COMPARE = process.env.BREAKDOWN_COMPARE_BUNDLE || '';
/** The comparison edge's usage journal in this directory (e.g. on a tmpfs) instead of its state directory. */
const COMPARE_JOURNAL_DIR = process.env.BREAKDOWN_COMPARE_JOURNAL_DIR || '';
/** Directories (comma-separated; at most two): a metering Worker that also writes a journal file there per request, each. */
const DISK_WORKER_DIRS = (process.env.BREAKDOWN_DISK_WORKER_DIRS || '').split(',').filter(Boolean).slice(0, 2);
const WARM_UP = 200;
const HOP_ENTRY = fileURLToPath(new URL('./bare-hop.ts', import.meta.url));
const log = (line: string): void => void process.stderr.write(`breakdown: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Target {
  name: string;
  url: URL;
  headers: Record<string, string>;
  body: string;
}

/** One request on a kept-alive connection: when it was sent and when its answer ended (monotonic ns), and its status. */
function send(agent: Agent, target: Target): Promise<{ sent: bigint; ended: bigint; status: number }> {
  return new Promise((resolve, reject) => {
    const sent = process.hrtime.bigint();
    const req = request(
      { host: target.url.hostname, port: target.url.port, path: target.url.pathname, method: 'POST', headers: { ...target.headers, 'content-length': String(Buffer.byteLength(target.body)) }, agent },
      (res) => {
        res.resume();
        res.once('end', () => resolve({ sent, ended: process.hrtime.bigint(), status: res.statusCode ?? 0 }));
      },
    );
    req.once('error', reject);
    req.end(target.body);
  });
}

const ms = (ns: bigint): number => Number(ns) / 1e6;
const median = (values: number[]): number => summarize(values).p50;

async function main(): Promise<void> {
  const durable = durableAnswersSetting();
  const stack = await startStack(
    { edge: 7430, plainEdge: 7431, controlPlane: 7432, supplier: 7433 },
    { MANIFEST_REFRESH_SECONDS: '300', MANIFEST_MAX_STALE_SECONDS: '600', USAGE_DURABLE_BEFORE_END: durable },
    {
      manifestKeys: num('BENCH_MANIFEST_KEYS', 10_000),
      ingestionGatePort: 7438,
      supplierTimings: true,
      // Another build, or this one with no wait for the usage event at the end of an answer.
      comparison: {
        ...(COMPARE ? { bundle: COMPARE, port: 7437 } : COMPARE_JOURNAL_DIR ? { bundle: EDGE_BUNDLE, port: 7437 } : { bundle: EDGE_BUNDLE, port: 7437, bindings: { USAGE_DURABLE_BEFORE_END: 'false' } }),
        ...(COMPARE_JOURNAL_DIR ? { journalDir: COMPARE_JOURNAL_DIR } : {}),
      },
    },
  );
  const hop = await forkChild(HOP_ENTRY, ['7434', stack.supplierOrigin]);
  const workerdHop = await startWorkerdHop(7435, stack.supplierOrigin);
  const jsonWorker = await startWorkerdHop(7436, stack.supplierOrigin, JSON_WORKER);
  const diskWorkers = [];
  for (const [i, dir] of DISK_WORKER_DIRS.entries()) {
    const files = mkdtempSync(join(dir, 'taas-disk-worker-'));
    diskWorkers.push({ dir, files, ...(await startWorkerdHop(7439 + i, stack.supplierOrigin, JSON_DISK_WORKER, files)) });
  }
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const closers: (() => void)[] = [];
  try {
    const chat = (model: string) => JSON.stringify({ model, messages: [{ role: 'user', content: 'Say hello' }] });
    const json = { 'content-type': 'application/json' };
    const direct = { headers: { ...json, authorization: 'Bearer bench-direct' }, body: chat(stack.upstreamModel) };
    const viaEdge = { headers: { ...json, authorization: `Bearer ${stack.apiKey}` }, body: chat(stack.model) };
    const path = '/v1/chat/completions';
    const targets: Target[] = [
      { name: 'Node hop', url: new URL(path, hop.firstLine), ...direct },
      { name: 'workerd hop', url: new URL(path, workerdHop.url), ...direct },
      { name: 'metering Worker', url: new URL(path, jsonWorker.url), ...direct },
      ...diskWorkers.map((w) => ({ name: `metering Worker + journal file in ${w.dir}`, url: new URL(path, w.url), ...direct })),
      { name: `edge (durable answers ${durable})`, url: new URL(path, stack.plainEdgeUrl), ...viaEdge },
      { name: COMPARE ? 'comparison build' : COMPARE_JOURNAL_DIR ? `edge, journal in ${COMPARE_JOURNAL_DIR}` : 'edge (durable answers false)', url: new URL(path, stack.comparison!.url), ...viaEdge },
    ];
    type Row = { total: number[]; there: number[]; supplier: number[]; back: number[] };
    const rowsByRate = new Map(RATES.map((rate) => [rate, new Map<string, Row>(targets.map((t) => [t.name, { total: [], there: [], supplier: [], back: [] }]))]));
    for (const target of targets) {
      // Ready (the edges have loaded their manifest) and warm.
      for (let deadline = Date.now() + 60_000; (await send(agent, target)).status !== 200; await sleep(500)) {
        if (Date.now() > deadline) throw new Error(`${target.name} does not answer 200`);
      }
      for (let i = 0; i < WARM_UP; i++) await send(agent, target);
    }
    const check = (target: Target, result: { status: number }): void => {
      if (result.status !== 200) throw new Error(`${target.name} answered ${result.status}`);
    };
    const oneAtATime = async (target: Target): Promise<{ sent: bigint; ended: bigint }[]> => {
      const client: { sent: bigint; ended: bigint }[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        const result = await send(agent, target);
        check(target, result);
        client.push(result);
        await sleep(GAP_MS);
      }
      return client;
    };
    const pacedAgent = new Agent({ keepAlive: true, maxSockets: 64 });
    closers.push(() => pacedAgent.destroy());
    /** Open loop at a rate; times from when each request was actually sent (the client's timer lateness left out). */
    const paced = async (target: Target, rate: number): Promise<{ sent: bigint; ended: bigint }[]> => {
      const pending: Promise<{ sent: bigint; ended: bigint; status: number }>[] = [];
      const start = performance.now();
      while (pending.length < REQUESTS) {
        const due = start + (pending.length * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        pending.push(send(pacedAgent, target));
      }
      const results = await Promise.all(pending);
      for (const result of results) check(target, result);
      return results.sort((a, b) => (a.sent < b.sent ? -1 : 1));
    };
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 ? targets : [...targets].reverse();
      for (const target of order) for (const rate of round % 2 ? RATES : [...RATES].reverse()) {
        await stack.takeSupplierTimings!();
        stack.ingestion?.hold();
        const client = rate ? await paced(target, rate) : await oneAtATime(target);
        stack.ingestion?.release();
        // In arrival order. One at a time, the supplier's n-th exchange is the client's n-th request;
        // at a rate, requests rarely overlap (a few ms apart, answered in ~1-2), and a pair that
        // crossed moves a median little.
        const supplier = (await stack.takeSupplierTimings!()).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        if (supplier.length !== client.length) throw new Error(`${target.name}: the supplier saw ${supplier.length} of ${client.length} requests`);
        const row = rowsByRate.get(rate)!.get(target.name)!;
        row.total.push(median(client.map((c) => ms(c.ended - c.sent))));
        row.there.push(median(client.map((c, i) => ms(supplier[i]![0] - c.sent))));
        row.supplier.push(median(supplier.map(([arrived, answered]) => ms(answered - arrived))));
        row.back.push(median(client.map((c, i) => ms(c.ended - supplier[i]![1]))));
        log(`round ${round}: ${target.name}${rate ? ` at ${rate} req/s` : ''} total p50 ${row.total.at(-1)!.toFixed(3)} ms`);
      }
    }
    const cell = (values: number[], reference: number[]): string => {
      const delta = median(values) - median(reference);
      return values === reference ? median(values).toFixed(3) : `${median(values).toFixed(3)} (${delta >= 0 ? '+' : '−'}${Math.abs(delta).toFixed(3)})`;
    };
    const lines = [...rowsByRate].flatMap(([rate, rows]) => {
      const base = rows.get('Node hop')!;
      return [
        `${rate ? `${rate} req/s, open loop, from each request's send` : `one request at a time, ${GAP_MS} ms apart`}; ${REQUESTS} per target and round, ${ROUNDS} rounds; median of the rounds' p50s in ms (± the Node hop)`,
        '| target | total | there (client → supplier) | in the supplier | back (supplier → client) |',
        '| --- | --- | --- | --- | --- |',
        ...targets.map((t) => {
          const r = rows.get(t.name)!;
          return `| ${t.name} | ${cell(r.total, base.total)} | ${cell(r.there, base.there)} | ${cell(r.supplier, base.supplier)} | ${cell(r.back, base.back)} |`;
        }),
        `rounds (total p50, ms): ${targets.map((t) => `${t.name} ${rows.get(t.name)!.total.map((v) => v.toFixed(2)).join(' / ')}`).join('; ')}`,
        '',
      ];
    });
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    for (const close of closers) close();
    agent.destroy();
    for (const w of diskWorkers) {
      await w.close();
      rmSync(w.files, { recursive: true, force: true });
    }
    await jsonWorker.close();
    await workerdHop.close();
    await hop.stop();
    await stack.close();
  }
}

runMain(main, log);
