// A supplier's 4xx that the client caused (bad parameters, too long a prompt) goes back to the
// client in our error shape, keeping the supplier's message. Error bodies are small; model output
// is never read this way.

import { ApiError, type ErrorCode } from '../shared/errors.ts';
import { readBounded } from './bounded-body.ts';

const MAX_ERROR_BYTES = 16 * 1024;

export async function rejectionFromSupplier(response: Response): Promise<ApiError> {
  let message = `The supplier rejected the request (HTTP ${response.status}).`;
  try {
    const bytes = await readBounded(response, MAX_ERROR_BYTES);
    if (!bytes) return new ApiError(codeFor(response.status), message);
    const text = new TextDecoder().decode(bytes);
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string };
    const detail = typeof parsed.error === 'string' ? parsed.error : parsed.error?.message;
    if (typeof detail === 'string' && detail) message = `The supplier rejected the request: ${detail.slice(0, 500)}`;
  } catch {
    // Not JSON: keep the generic message.
  }
  return new ApiError(codeFor(response.status), message);
}

function codeFor(status: number): ErrorCode {
  return status === 413 ? 'payload_too_large' : status === 422 ? 'validation_failed' : 'invalid_request';
}
