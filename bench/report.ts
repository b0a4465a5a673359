// The benchmark's output: plain-text tables with ratios for stdout, and the same data as JSON
// under bench/results/ (git-ignored). Numbers only: no prompt or completion text is ever kept.

import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LoadResult } from './load.ts';
import type { CodeFacts, MachineFacts } from './machine.ts';
import type { Summary } from './stats.ts';
import type { StreamResult } from './ttfb.ts';

export const TARGETS = ['direct', 'bare hop', 'workerd hop', 'edge', 'edge on workerd'] as const;
export type Target = (typeof TARGETS)[number];

export interface TargetRun<R> {
  target: Target;
  result: R;
  /** Process role → CPU microseconds per successful request during the run. */
  cpuUsPerRequest: Record<string, number>;
}

export interface Phase<R> {
  title: string;
  runs: TargetRun<R>[];
  /** What the aims section reads here: p50 at an evenly paced rate, maximum throughput, or time to first token one at a time. */
  aim?: { pacedRate: number } | 'max throughput' | 'ttfb';
}

export interface BenchReport {
  machine: MachineFacts;
  code: CodeFacts & { edgeBundleSha256: string };
  settings: Record<string, string | number>;
  database: string;
  load: Phase<LoadResult>[];
  streams: Phase<StreamResult>[];
  memoryMiB: { before: Record<string, number>; after: Record<string, number>; peak: Record<string, number> };
  metering: { edgeOk: number; usageEventsStored: number; longestDrainMs: number };
  elapsedSeconds: number;
  /** Shares of the machine's CPU (all cores) while measuring: other processes than ours, interrupt handling (loopback networking mostly), hypervisor steal. */
  cpuShares: { otherProcesses: number; interrupts: number; steal: number };
}

/** The comparisons every section shows: the edge against each reference, the references against direct. */
const PAIRS: [Target, Target][] = [
  ['edge', 'direct'],
  ['edge', 'bare hop'],
  ['edge', 'workerd hop'],
  ['edge on workerd', 'direct'],
  ['edge on workerd', 'bare hop'],
  ['edge on workerd', 'workerd hop'],
  ['bare hop', 'direct'],
  ['workerd hop', 'direct'],
];

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

export const ROLE_NOTES: Record<string, string> = {
  main: 'this Node process (control plane with usage ingestion, PGlite, Miniflare host)',
  'wd edge': "the edge's workerd (Miniflare)",
  'wd edge2': "the edge's plain workerd (workerd serve, the production path)",
  'wd outbox': "that node's usage-outbox process (a second workerd serve)",
  'wd hop': "the workerd hop's workerd (workerd serve)",
  supplier: 'fake supplier process',
  'node hop': 'bare hop process',
  client: 'load client process',
};

const f = (n: number, digits = 2): string => n.toFixed(digits);
const ratio = (a: number, b: number): string => (b > 0 ? `${f(a / b)}x` : 'n/a');
const added = (a: number, b: number): string => `${a - b >= 0 ? '+' : ''}${f(a - b)}`;

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

function byTarget<R>(phase: Phase<R>, target: Target): R | undefined {
  return phase.runs.find((r) => r.target === target)?.result;
}

/** "edge / direct" lines for one latency summary picked from each run. */
function latencyRatios<R>(phase: Phase<R>, label: string, pick: (r: R) => Summary): string[] {
  return PAIRS.flatMap(([a, b]) => {
    const ra = byTarget(phase, a);
    const rb = byTarget(phase, b);
    if (!ra || !rb) return [];
    const [sa, sb] = [pick(ra), pick(rb)];
    return [
      `  ${`${a} / ${b}`.padEnd(20)} ${label}: p50 ${ratio(sa.p50, sb.p50)}  p99 ${ratio(sa.p99, sb.p99)}  max ${ratio(sa.max, sb.max)}` +
        `   added ms: p50 ${added(sa.p50, sb.p50)}  p99 ${added(sa.p99, sb.p99)}  max ${added(sa.max, sb.max)}`,
    ];
  });
}

function cpuTable<R>(phase: Phase<R>): string {
  const roles = [...new Set(phase.runs.flatMap((r) => Object.keys(r.cpuUsPerRequest)))];
  const rows = phase.runs.map((r) => [r.target, ...roles.map((role) => f(r.cpuUsPerRequest[role] ?? 0, 0))]);
  return table(['CPU µs/request', ...roles], rows);
}

function loadSection(phase: Phase<LoadResult>): string {
  const rows = phase.runs.map(({ target, result: r }) => [
    target,
    f(r.okPerSecond, 1),
    String(r.ok),
    String(Object.values(r.failures).reduce((a, b) => a + b, 0) + r.errors),
    f(r.latencyMs.mean),
    f(r.latencyMs.p50),
    f(r.latencyMs.p99),
    f(r.latencyMs.max),
  ]);
  const throughput = PAIRS.flatMap(([a, b]) => {
    const ra = byTarget(phase, a);
    const rb = byTarget(phase, b);
    return ra && rb ? [`${a} / ${b}: ${ratio(ra.okPerSecond, rb.okPerSecond)}`] : [];
  });
  const failures = phase.runs.filter((r) => Object.keys(r.result.failures).length > 0 || r.result.errors > 0);
  return [
    `== ${phase.title}`,
    table(['target', 'ok req/s', 'ok', 'failed', 'mean ms', 'p50 ms', 'p99 ms', 'max ms'], rows),
    ...latencyRatios(phase, 'latency', (r) => r.latencyMs),
    `  ok req/s ratios: ${throughput.join(';  ')}`,
    ...failures.map((r) => `  ${r.target} failures: ${JSON.stringify(r.result.failures)} errors ${r.result.errors} timeouts ${r.result.timeouts}`),
    cpuTable(phase),
  ].join('\n');
}

function streamSection(phase: Phase<StreamResult>): string {
  const rows = phase.runs.map(({ target, result: r }) => [
    target,
    String(r.ok),
    String(r.failed),
    f(r.ttfbMs.p50),
    f(r.ttfbMs.p99),
    f(r.ttfbMs.max),
    f(r.totalMs.p50),
    f(r.totalMs.p99),
    f(r.totalMs.max),
    f(r.meanBytes, 0),
  ]);
  return [
    `== ${phase.title}`,
    table(['target', 'ok', 'failed', 'TTFB p50', 'TTFB p99', 'TTFB max', 'total p50', 'total p99', 'total max', 'bytes'], rows),
    ...latencyRatios(phase, 'TTFB ', (r) => r.ttfbMs),
    ...latencyRatios(phase, 'total', (r) => r.totalMs),
    cpuTable(phase),
  ].join('\n');
}

function memorySection(memory: BenchReport['memoryMiB'], manifestKeys: string | number | undefined): string {
  const rows = Object.keys(memory.before).map((role) => [role, f(memory.before[role] ?? 0, 1), f(memory.after[role] ?? 0, 1), f(memory.peak[role] ?? 0, 1)]);
  return [`== Resident memory (MiB); the edges hold a manifest of ${manifestKeys ?? '?'} keys ("before load" is after their first request)`, table(['process', 'before load', 'after load', 'peak'], rows)].join('\n');
}

/**
 * Issue #4's aim for the edge with authentication, policy and metering on, read for the edge on
 * plain workerd (the production path) against the bare Node hop of the same run: at least its
 * throughput, at most +0.5 ms p50 at fixed rates and +1 ms to the first token. The bare workerd
 * hop (the same runtime with no code of ours) is shown beside it, as the floor on this machine.
 */
export const AIM = { throughputRatio: 1, addedP50Ms: 0.5, addedTtfbMs: 1 } as const;

export function aimSection(report: BenchReport): string {
  const [edge, node, bare] = ['edge on workerd', 'bare hop', 'workerd hop'] as const;
  const verdict = (met: boolean): string => (met ? 'met' : 'NOT met');
  const lines: string[] = [];
  for (const phase of report.load) {
    const [e, n, w] = [byTarget(phase, edge), byTarget(phase, node), byTarget(phase, bare)];
    if (!e || !n || !phase.aim) continue;
    if (phase.aim === 'max throughput') {
      const r = e.okPerSecond / n.okPerSecond;
      lines.push(
        `max throughput: ${f(e.okPerSecond, 0)} req/s = ${f(r)}x the Node hop (aim >= ${f(AIM.throughputRatio)}x): ${verdict(r >= AIM.throughputRatio)}` +
          (w ? `; ${ratio(e.okPerSecond, w.okPerSecond)} the workerd hop, itself ${ratio(w.okPerSecond, n.okPerSecond)} the Node hop` : ''),
      );
    } else if (typeof phase.aim === 'object') {
      const d = e.latencyMs.p50 - n.latencyMs.p50;
      lines.push(
        `p50 at ${phase.aim.pacedRate} req/s paced: ${f(e.latencyMs.p50)} ms, ${added(e.latencyMs.p50, n.latencyMs.p50)} over the Node hop (aim <= +${f(AIM.addedP50Ms)}): ${verdict(d <= AIM.addedP50Ms)}` +
          (w ? `; ${added(e.latencyMs.p50, w.latencyMs.p50)} over the workerd hop` : '') +
          `; p99 ${f(e.latencyMs.p99)} against ${f(n.latencyMs.p99)}`,
      );
    }
  }
  for (const phase of report.streams) {
    const [e, n, w] = [byTarget(phase, edge), byTarget(phase, node), byTarget(phase, bare)];
    if (!e || !n || phase.aim !== 'ttfb') continue;
    const d = e.ttfbMs.p50 - n.ttfbMs.p50;
    lines.push(
      `time to first token p50 (one at a time): ${f(e.ttfbMs.p50)} ms, ${added(e.ttfbMs.p50, n.ttfbMs.p50)} over the Node hop (aim <= +${f(AIM.addedTtfbMs)}): ${verdict(d <= AIM.addedTtfbMs)}` +
        (w ? `; ${added(e.ttfbMs.p50, w.ttfbMs.p50)} over the workerd hop` : ''),
    );
  }
  const after = report.memoryMiB.after;
  if (after['wd edge2'] !== undefined) {
    lines.push(`RSS after the load, ${report.settings.manifestKeys ?? '?'} keys in the manifest: edge ${f(after['wd edge2'], 0)} MiB + outbox process ${f(after['wd outbox'] ?? 0, 0)} MiB (reported; no aim)`);
  }
  return lines.length ? [`== Against the aim: the edge on workerd, the bare Node hop of this run as the reference`, ...lines.map((l) => `   ${l}`)].join('\n') : '';
}

export function renderReport(report: BenchReport): string {
  const m = report.machine;
  return [
    `Edge overhead benchmark, ${m.date}`,
    `machine: ${m.nproc} CPUs (${m.cpuModel}), ${m.totalMemoryMiB} MiB, load avg ${f(m.loadAverage1m)} at start, Linux ${m.kernel}, Node ${m.node}, workerd ${m.workerd}, miniflare ${m.miniflare}`,
    `code: git ${report.code.gitHead}, ${report.code.uncommittedEdgeFiles} uncommitted files under edge/ and shared/, edge bundle sha256 ${report.code.edgeBundleSha256.slice(0, 16)}`,
    `database: ${report.database}; settings: ${Object.entries(report.settings).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    'Latencies in ms, client side. Targets: direct = client -> fake supplier; bare hop = via a node:http pass-through;',
    'workerd hop = via a bare pass-through Worker on plain workerd serve; edge = via the edge Worker under Miniflare (auth, policy, metering on); edge on workerd = the same on plain workerd serve.',
    `CPU µs/request (from /proc, 10 ms ticks): ${Object.entries(ROLE_NOTES).map(([k, v]) => `${k} = ${v}`).join('; ')}.`,
    '',
    ...report.load.flatMap((phase) => [loadSection(phase), '']),
    ...report.streams.flatMap((phase) => [streamSection(phase), '']),
    memorySection(report.memoryMiB, report.settings.manifestKeys),
    '',
    aimSection(report),
    '',
    `== Metering: ${report.metering.usageEventsStored} usage events stored for ${report.metering.edgeOk} 2xx edge answers counted by the client`,
    '   (a few more events than answers: requests in flight when autocannon stops are answered and metered but not counted)',
    `   longest wait for ingestion to catch up after an edge run: ${f(report.metering.longestDrainMs / 1000, 1)} s`,
    `Machine CPU while measuring: other processes ${f(report.cpuShares.otherProcesses * 100, 1)}%, interrupts ${f(report.cpuShares.interrupts * 100, 1)}%, steal ${f(report.cpuShares.steal * 100, 1)}%` +
      (report.cpuShares.otherProcesses + report.cpuShares.steal > 0.05 ? ' (noisy run: compare ratios from a quiet machine).' : '.'),
    `Total time ${f(report.elapsedSeconds, 0)} s.`,
  ].join('\n');
}

export function writeReport(report: BenchReport): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}bench-${report.machine.date.replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  return file;
}
