// Reads a body once, as bytes, with a hard size limit (requests, and the manifest response).
// A request body is read whole before routing so a failover can resend the same request.

import { ApiError } from '../shared/errors.ts';

/** Shared: decoding a whole buffer keeps no state (and a C++ object per request costs a GC sweep). */
const decoder = new TextDecoder();

/**
 * The size of a body as it will be read, when its headers say so: a declared length frames the
 * body (HTTP/1.1), unless it is encoded, which the runtime decodes to a size the header does not
 * bound. Null otherwise. Such a body can be read whole in one native call, without a JS loop.
 */
export function framedLength(message: Request | Response): number | null {
  const declared = Number(message.headers.get('content-length') ?? NaN);
  const encoding = message.headers.get('content-encoding');
  return declared >= 0 && (encoding === null || encoding === 'identity') ? declared : null;
}

/**
 * The whole body of a request or response, or null when it is larger than `maxBytes`: the
 * declared length is checked first, and reading stops at the limit whatever was declared.
 */
export async function readBounded(message: Request | Response, maxBytes: number): Promise<Uint8Array | null> {
  const declared = Number(message.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await message.body?.cancel();
    return null;
  }
  if (!message.body) return new Uint8Array(0);
  // Read whole in one call where the length is known (~4 % of the edge's CPU a request).
  if (framedLength(message) !== null) {
    const bytes = new Uint8Array(await message.arrayBuffer());
    return bytes.byteLength > maxBytes ? null : bytes;
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = message.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

export async function readJsonBody(request: Request, maxBytes: number): Promise<{ json: unknown; bytes: number }> {
  const bytes = await readBounded(request, maxBytes);
  if (!bytes) throw new ApiError('payload_too_large', `The request body exceeds ${maxBytes} bytes.`);
  if (bytes.byteLength === 0) throw new ApiError('invalid_json', 'The request body is empty; send a JSON object.');
  try {
    return { json: JSON.parse(decoder.decode(bytes)), bytes: bytes.byteLength };
  } catch {
    throw new ApiError('invalid_json', 'The request body is not valid JSON.');
  }
}
