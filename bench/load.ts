// One autocannon run against one target. Latencies are taken from autocannon's per-response event
// (hrtime, float milliseconds) rather than its histogram, which keeps whole milliseconds only.

import autocannon from 'autocannon';
import { summarize, type Summary } from './stats.ts';

export interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  body: string;
  connections: number;
  durationSeconds: number;
  /** Requests per second over all connections; absent: as fast as possible. */
  overallRate?: number;
}

export interface LoadResult {
  latencyMs: Summary;
  /** 2xx responses per second. */
  okPerSecond: number;
  ok: number;
  /** Status code → count, for non-2xx answers. */
  failures: Record<string, number>;
  errors: number;
  timeouts: number;
  durationSeconds: number;
}

export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.url,
        method: 'POST',
        headers: spec.headers,
        body: spec.body,
        connections: spec.connections,
        duration: spec.durationSeconds,
        timeout: 10,
        // Our samples are raw response times; autocannon's correction would only touch its histogram.
        ...(spec.overallRate === undefined ? {} : { overallRate: spec.overallRate, ignoreCoordinatedOmission: true }),
      },
      (error, result) => {
        if (error) return reject(error);
        resolve({
          latencyMs: summarize(latencies),
          okPerSecond: latencies.length / result.duration,
          ok: latencies.length,
          failures,
          errors: result.errors,
          timeouts: result.timeouts,
          durationSeconds: result.duration,
        });
      },
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms);
      else failures[status] = (failures[status] ?? 0) + 1;
    });
  });
}
