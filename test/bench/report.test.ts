// The benchmark report's verdicts against issue #4's aim: read for the edge on workerd against the
// bare Node hop of the same run, each aim from the phase that measures it, nothing invented when a
// phase or a target is missing.
import { describe, expect, it } from 'vitest';
import { aimSection, type BenchReport, type Phase, type Target } from '../../bench/report.ts';
import type { LoadResult } from '../../bench/load.ts';
import type { Summary } from '../../bench/stats.ts';
import type { StreamResult } from '../../bench/ttfb.ts';

const summary = (p50: number, p99 = p50 * 4): Summary => ({ count: 100, mean: p50, p50, p99, max: p99 });
const load = (okPerSecond: number, p50: number): LoadResult => ({ latencyMs: summary(p50), okPerSecond, ok: 1000, failures: {}, errors: 0, timeouts: 0, durationSeconds: 5 });
const stream = (ttfb: number): StreamResult => ({ ttfbMs: summary(ttfb), totalMs: summary(ttfb + 1), ok: 300, failed: 0, meanBytes: 5695 });
const runs = <R>(results: Partial<Record<Target, R>>) => Object.entries(results).map(([target, result]) => ({ target: target as Target, result: result as R, cpuUsPerRequest: {} }));

function report(load: Phase<LoadResult>[], streams: Phase<StreamResult>[] = []): BenchReport {
  return {
    machine: {} as BenchReport['machine'],
    code: {} as BenchReport['code'],
    settings: { manifestKeys: 100000 },
    database: 'test',
    load,
    streams,
    memoryMiB: { before: {}, after: { 'wd edge2': 335.2, 'wd outbox': 98.7 }, peak: {} },
    metering: { edgeOk: 0, usageEventsStored: 0, longestDrainMs: 0 },
    elapsedSeconds: 1,
    cpuShares: { otherProcesses: 0, interrupts: 0, steal: 0 },
  };
}

describe('the bench report against the aim', () => {
  it('says met or not met for each aim, from the edge on workerd against the Node hop, with the workerd hop beside it', () => {
    const text = aimSection(
      report(
        [
          { title: 'paced 200', aim: { pacedRate: 200 }, runs: runs({ 'bare hop': load(200, 2.43), 'workerd hop': load(200, 2.52), 'edge on workerd': load(200, 2.76) }) },
          { title: 'paced 500', aim: { pacedRate: 500 }, runs: runs({ 'bare hop': load(500, 1.74), 'workerd hop': load(500, 1.8), 'edge on workerd': load(500, 4.04) }) },
          { title: 'bursts', runs: runs({ 'bare hop': load(200, 1), 'edge on workerd': load(200, 99) }) },
          { title: 'max', aim: 'max throughput', runs: runs({ 'bare hop': load(5231.5, 8), 'workerd hop': load(4260.5, 9), 'edge on workerd': load(1550.6, 28) }) },
        ],
        [
          { title: 'one at a time', aim: 'ttfb', runs: runs({ 'bare hop': stream(1.73), 'workerd hop': stream(1.46), 'edge on workerd': stream(2.56) }) },
          { title: 'concurrency 8', runs: runs({ 'bare hop': stream(1), 'edge on workerd': stream(50) }) },
        ],
      ),
    );
    const lines = text.split('\n');
    expect(lines.find((l) => l.includes('at 200 req/s'))).toContain('+0.33 over the Node hop (aim <= +0.50): met; +0.24 over the workerd hop');
    expect(lines.find((l) => l.includes('at 500 req/s'))).toContain('+2.30 over the Node hop (aim <= +0.50): NOT met');
    expect(lines.find((l) => l.includes('max throughput'))).toContain('1551 req/s = 0.30x the Node hop (aim >= 1.00x): NOT met; 0.36x the workerd hop, itself 0.81x the Node hop');
    expect(lines.find((l) => l.includes('first token'))).toContain('2.56 ms, +0.83 over the Node hop (aim <= +1.00): met; +1.10 over the workerd hop');
    expect(lines.find((l) => l.includes('RSS'))).toContain('100000 keys in the manifest: edge 335 MiB + outbox process 99 MiB');
    // The phases without an aim (autocannon's bursts, streams at concurrency 8) give no verdict.
    expect(lines.filter((l) => /met/.test(l))).toHaveLength(4);
  });

  it('says nothing of an aim whose phase lacks the edge on workerd or the Node hop', () => {
    const text = aimSection(report([{ title: 'paced', aim: { pacedRate: 200 }, runs: runs({ 'workerd hop': load(200, 2), 'edge on workerd': load(200, 2.1) }) }]));
    expect(text).not.toContain('req/s paced');
    expect(text).toContain('RSS');
  });
});
