// Streamed completions through fetch: time to the first body byte and to the end of the stream,
// measured per request at a fixed concurrency. Only byte counts are kept, never the text.

import { summarize, type Summary } from './stats.ts';

export interface StreamSpec {
  url: string;
  headers: Record<string, string>;
  body: string;
  requests: number;
  concurrency: number;
}

export interface StreamResult {
  ttfbMs: Summary;
  totalMs: Summary;
  ok: number;
  /** Non-200 answers, network errors, and streams that ended without `data: [DONE]`. */
  failed: number;
  meanBytes: number;
}

const DONE = 'data: [DONE]';

async function one(spec: StreamSpec): Promise<{ ttfb: number; total: number; bytes: number } | null> {
  const started = performance.now();
  const response = await fetch(spec.url, { method: 'POST', headers: spec.headers, body: spec.body });
  if (response.status !== 200 || !response.body) {
    await response.body?.cancel();
    return null;
  }
  let ttfb = -1;
  let bytes = 0;
  let tail = '';
  const decoder = new TextDecoder();
  const reader = response.body.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    if (ttfb < 0) ttfb = performance.now() - started;
    bytes += read.value.byteLength;
    // Only the last few characters are kept, to see the terminator.
    tail = (tail + decoder.decode(read.value, { stream: true })).slice(-64);
  }
  const total = performance.now() - started;
  return ttfb >= 0 && tail.includes(DONE) ? { ttfb, total, bytes } : null;
}

export async function runStreams(spec: StreamSpec): Promise<StreamResult> {
  const ttfb: number[] = [];
  const total: number[] = [];
  let failed = 0;
  let bytes = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < spec.requests) {
      next += 1;
      const result = await one(spec).catch(() => null);
      if (!result) {
        failed += 1;
        continue;
      }
      ttfb.push(result.ttfb);
      total.push(result.total);
      bytes += result.bytes;
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, worker));
  return { ttfbMs: summarize(ttfb), totalMs: summarize(total), ok: ttfb.length, failed, meanBytes: ttfb.length ? bytes / ttfb.length : 0 };
}
