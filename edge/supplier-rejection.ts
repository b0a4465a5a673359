// A supplier's 4xx that the client caused (bad parameters, too long a prompt) goes back to the
// client in our error shape, keeping the supplier's message. Error bodies are small; model output
// is never read this way.

import { ApiError, type ErrorCode } from '../shared/errors.ts';

const MAX_ERROR_BYTES = 16 * 1024;

export async function rejectionFromSupplier(response: Response): Promise<ApiError> {
  let message = `The supplier rejected the request (HTTP ${response.status}).`;
  try {
    const text = (await response.text()).slice(0, MAX_ERROR_BYTES);
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string };
    const detail = typeof parsed.error === 'string' ? parsed.error : parsed.error?.message;
    if (typeof detail === 'string' && detail) message = `The supplier rejected the request: ${detail.slice(0, 500)}`;
  } catch {
    // Not JSON: keep the generic message.
  }
  const code: ErrorCode = response.status === 413 ? 'payload_too_large' : response.status === 422 ? 'validation_failed' : 'invalid_request';
  return new ApiError(code, message);
}
