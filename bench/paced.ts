// An open-loop load at an even pace: request i is due at start + i/rate, whatever happened to the
// ones before it. autocannon's overallRate lets each connection fire its whole per-second quota
// back to back at every one-second tick, so its "fixed rate" is a burst once a second; this is
// the cross-check. Latency is counted from the due time, so a stalled server cannot hide queueing.

import { Agent, request } from 'node:http';
import type { LoadResult } from './load.ts';
import { summarize, type Summary } from './stats.ts';

export interface PacedSpec {
  url: string;
  headers: Record<string, string>;
  body: string;
  rate: number;
  durationSeconds: number;
  /** Sockets at most; a request due while all are busy waits for one (and that wait counts). */
  maxSockets: number;
  /** Also return every request's due time and latency (bench/stalls.ts). */
  timeline?: boolean;
}

/** A request of a paced run: when it was due (Unix ms, fractional) and its latency (ms; -1: failed). */
export type TimelineEntry = [dueUnixMs: number, latencyMs: number];

export type PacedResult = LoadResult & {
  /** Latency from when the client actually sent each request (its timer may fire after the due time). */
  fromSentMs: Summary;
  /** How late the client's timer sent each request after its due time: the client's share of `latencyMs`. */
  lateMs: Summary;
  timeline?: TimelineEntry[];
};

/** Shaped like autocannon's result; latency runs from the due time to the end of the response. */
export function runPaced(spec: PacedSpec): Promise<PacedResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: spec.maxSockets });
  const url = new URL(spec.url);
  const headers = { ...spec.headers, 'content-length': String(Buffer.byteLength(spec.body)) };
  const total = Math.round(spec.rate * spec.durationSeconds);
  const latencies: number[] = [];
  const fromSent: number[] = [];
  const late: number[] = [];
  const timeline: TimelineEntry[] = [];
  const failures: Record<string, number> = {};
  let errors = 0;
  let settled = 0;
  const start = performance.now() + 10;

  return new Promise((resolve) => {
    const finish = (): void => {
      settled += 1;
      if (settled < total) return;
      agent.destroy();
      const seconds = (performance.now() - start) / 1000;
      const summary = { latencyMs: summarize(latencies), fromSentMs: summarize(fromSent), lateMs: summarize(late), okPerSecond: latencies.length / seconds, ok: latencies.length, failures, errors, timeouts: 0, durationSeconds: seconds };
      resolve(spec.timeline ? { ...summary, timeline } : summary);
    };
    const fire = (due: number): void => {
      const sentAt = performance.now();
      let done = false;
      let endedAt = 0;
      const settle = (status: number | undefined, complete: boolean): void => {
        if (done) return;
        done = true;
        if (status === undefined || !complete) errors += 1;
        else if (status >= 200 && status < 300) {
          latencies.push(endedAt - due);
          fromSent.push(endedAt - sentAt);
          late.push(sentAt - due);
        }
        else failures[status] = (failures[status] ?? 0) + 1;
        if (spec.timeline) timeline.push([performance.timeOrigin + due, status !== undefined && complete && status >= 200 && status < 300 ? endedAt - due : -1]);
        finish();
      };
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers, agent }, (res) => {
        res.resume();
        res.on('end', () => (endedAt = performance.now()));
        res.on('close', () => settle(res.statusCode, res.complete));
      });
      req.setTimeout(10_000, () => req.destroy());
      req.on('error', () => settle(undefined, false));
      req.end(spec.body);
    };
    let sent = 0;
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && start + (sent * 1000) / spec.rate <= now) fire(start + (sent++ * 1000) / spec.rate);
      if (sent < total) setTimeout(tick, Math.max(0, start + (sent * 1000) / spec.rate - performance.now()));
    };
    setTimeout(tick, 10);
  });
}
