// Reads a request body once, as bytes, with a hard size limit, and parses it as JSON.
// The bytes are kept so a failover can resend the same request.

import { ApiError } from '../shared/errors.ts';

export async function readJsonBody(request: Request, maxBytes: number): Promise<{ json: unknown; bytes: number }> {
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  if (!request.body) throw new ApiError('invalid_json', 'The request body is empty; send a JSON object.');
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return { json: JSON.parse(new TextDecoder().decode(bytes)), bytes: total };
  } catch {
    throw new ApiError('invalid_json', 'The request body is not valid JSON.');
  }
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError('payload_too_large', `The request body exceeds ${maxBytes} bytes.`);
}
