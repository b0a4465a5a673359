// A supplier's 4xx that the client caused (bad parameters, too long a prompt) goes back to the
// client in our error shape, keeping the supplier's message. Error bodies are small; model output
// is never read this way.

import { ApiError, type ErrorCode } from '../shared/errors.ts';
import { readBounded } from './bounded-body.ts';

const MAX_ERROR_BYTES = 16 * 1024;

export async function rejectionFromSupplier(response: Response): Promise<ApiError> {
  let message = `The supplier rejected the request (HTTP ${response.status}).`;
  let code = codeFor(response.status);
  try {
    const bytes = await readBounded(response, MAX_ERROR_BYTES);
    if (!bytes) return new ApiError(code, message);
    const text = new TextDecoder().decode(bytes);
    const parsed = JSON.parse(text) as { error?: { message?: unknown; code?: unknown } | string };
    const detail = typeof parsed.error === 'string' ? parsed.error : parsed.error?.message;
    if (typeof detail === 'string' && detail) message = `The supplier rejected the request: ${detail.slice(0, 500)}`;
    const supplierCode = typeof parsed.error === 'object' && parsed.error !== null ? parsed.error.code : undefined;
    if (response.status === 400 && (supplierCode === 'context_length_exceeded' || (typeof detail === 'string' && TOO_LONG.test(detail)))) code = 'context_length_exceeded';
  } catch {
    // Not JSON: keep the generic message.
  }
  return new ApiError(code, message);
}

/**
 * A prompt beyond the model's window, as suppliers word it: OpenAI says so by its code
 * (`context_length_exceeded`), Anthropic ("prompt is too long") and vLLM ("maximum context
 * length") only in the message. Every client gets OpenAI's code for it, whatever the supplier's
 * format: agents compact their history on that code, and the message is kept as the supplier wrote it.
 */
const TOO_LONG = /prompt is too long|maximum context length|context length exceeded|context_length_exceeded/i;

function codeFor(status: number): ErrorCode {
  return status === 413 ? 'payload_too_large' : status === 422 ? 'validation_failed' : 'invalid_request';
}
