// readBounded inside workerd: a body framed by its declared length is read whole; any other body
// (no length, or an encoding the runtime would decode past the header's size) is read in pieces
// and stops at the limit, without waiting for the rest.

import { describe, expect, it } from 'vitest';
import { readBounded } from '../../edge/bounded-body.ts';

/** `size` bytes, then a body that never ends: reading past the limit must not wait for it. */
function endless(size: number): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent) return new Promise<void>(() => {});
      sent = true;
      controller.enqueue(new Uint8Array(size).fill(120));
    },
  });
}

describe('readBounded', () => {
  it('reads a body of declared length whole, byte for byte', async () => {
    const bytes = new TextEncoder().encode('{"model":"m","messages":[]}');
    const request = new Request('https://edge.test/', { method: 'POST', body: bytes, headers: { 'content-length': String(bytes.byteLength) } });
    expect(await readBounded(request, 1024)).toEqual(bytes);
  });

  it('refuses a declared length over the limit before reading', async () => {
    const response = new Response(endless(10), { headers: { 'content-length': '2048' } });
    expect(await readBounded(response, 1024)).toBeNull();
  });

  it('refuses a body longer than its (understated) declared length', async () => {
    const response = new Response(new Uint8Array(2048), { headers: { 'content-length': '10' } });
    expect(await readBounded(response, 1024)).toBeNull();
  });

  it('stops at the limit for an encoded body whatever length it declares', async () => {
    const response = new Response(endless(2048), { headers: { 'content-length': '10', 'content-encoding': 'gzip' } });
    expect(await readBounded(response, 1024)).toBeNull();
  });

  it('stops at the limit for a body that declares no length', async () => {
    expect(await readBounded(new Response(endless(2048)), 1024)).toBeNull();
  });
});
