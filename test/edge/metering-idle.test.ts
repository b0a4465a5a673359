// The supplier idle limit of a metered answer (edge/metering.ts): a supplier silent past it in the
// middle of an answer ends the answer as a supplier failure and has its call cancelled; a client
// that is slow to read is not the supplier's silence.
import { describe, expect, it } from 'vitest';
import { meter, type MeterResult } from '../../edge/metering.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function handle(idleLimitMs: number) {
  return {
    chunk: (bytes: Uint8Array) => bytes,
    end: () => encoder.encode('|end'),
    failure: () => encoder.encode('|failed'),
    result: () => ({ usage: null, outputEstimate: 0 }),
    idleLimitMs,
  };
}

async function readAll(stream: ReadableStream<Uint8Array>, pauseMs = 0): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += decoder.decode(chunk);
    if (pauseMs > 0) await sleep(pauseMs);
  }
  return text;
}

describe('supplier idle limit', () => {
  it('ends an answer whose supplier went silent as a failure, and cancels the supplier', async () => {
    let cancelled = false;
    const supplier = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('first'));
      },
      cancel() {
        cancelled = true;
      },
    });
    const results: MeterResult[] = [];
    const started = Date.now();

    const text = await readAll(meter(supplier, handle(300), (r) => void results.push(r)));

    expect(text).toBe('first|failed');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(results).toEqual([expect.objectContaining({ outcome: 'upstream_failed', failure: expect.stringContaining('sent nothing') })]);
    expect(cancelled).toBe(true);
  });

  it('does not count a slow client\'s pauses as the supplier\'s silence', async () => {
    const supplier = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const part of ['a', 'b', 'c']) controller.enqueue(encoder.encode(part));
        controller.close();
      },
    });
    const results: MeterResult[] = [];

    // 400 ms between reads against a 300 ms limit: each read of the supplier itself is instant.
    const text = await readAll(meter(supplier, handle(300), (r) => void results.push(r)), 400);

    expect(text).toBe('abc|end');
    expect(results).toEqual([expect.objectContaining({ outcome: 'complete' })]);
  });
});
