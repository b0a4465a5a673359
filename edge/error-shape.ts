// Errors in the caller's own API format: OpenAI's shape everywhere, Anthropic's on the Anthropic
// Messages surface (its SDKs read `error.type` and `error.message` from that shape). The code,
// status and request id are the same either way.

import { ERRORS, errorBody, type ErrorCode, type ErrorType } from '../shared/errors.ts';

export type ErrorFormat = 'openai' | 'anthropic';

/** The Anthropic Messages surface lives under /v1/messages; everything else speaks OpenAI. */
export function errorFormatFor(path: string): ErrorFormat {
  return path === '/v1/messages' || path.startsWith('/v1/messages/') ? 'anthropic' : 'openai';
}

// Anthropic's documented error types; ours map onto the nearest one.
const ANTHROPIC_TYPE: Record<ErrorType, string> = {
  invalid_request_error: 'invalid_request_error',
  authentication_error: 'authentication_error',
  billing_error: 'billing_error',
  permission_error: 'permission_error',
  not_found_error: 'not_found_error',
  rate_limit_error: 'rate_limit_error',
  api_error: 'api_error',
  upstream_error: 'api_error',
  service_unavailable: 'overloaded_error',
};

export function errorPayload(format: ErrorFormat, code: ErrorCode, message: string, options: { param?: string | null; requestId?: string | null } = {}): unknown {
  if (format === 'openai') return errorBody(code, message, options);
  const type = code === 'payload_too_large' ? 'request_too_large' : ANTHROPIC_TYPE[ERRORS[code].type];
  return { type: 'error', error: { type, message, code }, request_id: options.requestId ?? null };
}
