// The closed set of errors either service may answer with, and their one mapping to the wire.
// Shape follows OpenAI's error object so every SDK shows the message (PRODUCT.md §1).

export type ErrorCode =
  | 'invalid_json'
  | 'invalid_request'
  | 'context_length_exceeded'
  | 'validation_failed'
  | 'invalid_api_key'
  | 'unauthorized'
  | 'insufficient_balance'
  | 'budget_exceeded'
  | 'forbidden'
  | 'model_not_allowed'
  | 'region_not_allowed'
  | 'supplier_not_allowed'
  | 'org_suspended'
  | 'not_found'
  | 'model_not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'internal_error'
  | 'upstream_failed'
  | 'manifest_unavailable'
  | 'allowance_unavailable'
  | 'usage_backlog'
  | 'not_configured'
  | 'upstream_timeout';

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'api_error'
  | 'upstream_error'
  | 'service_unavailable';

export type ErrorStatus = 400 | 401 | 402 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 500 | 502 | 503 | 504;

// A Record over the union: adding a code without its wire mapping does not compile.
export const ERRORS: Record<ErrorCode, { status: ErrorStatus; type: ErrorType }> = {
  invalid_json: { status: 400, type: 'invalid_request_error' },
  invalid_request: { status: 400, type: 'invalid_request_error' },
  // OpenAI's code for a prompt beyond the model's window: agents (Codex-style) compact on it.
  context_length_exceeded: { status: 400, type: 'invalid_request_error' },
  validation_failed: { status: 422, type: 'invalid_request_error' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  unauthorized: { status: 401, type: 'authentication_error' },
  insufficient_balance: { status: 402, type: 'billing_error' },
  budget_exceeded: { status: 402, type: 'billing_error' },
  forbidden: { status: 403, type: 'permission_error' },
  model_not_allowed: { status: 403, type: 'permission_error' },
  region_not_allowed: { status: 403, type: 'permission_error' },
  supplier_not_allowed: { status: 403, type: 'permission_error' },
  org_suspended: { status: 403, type: 'permission_error' },
  not_found: { status: 404, type: 'not_found_error' },
  model_not_found: { status: 404, type: 'not_found_error' },
  conflict: { status: 409, type: 'invalid_request_error' },
  payload_too_large: { status: 413, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  rate_limited: { status: 429, type: 'rate_limit_error' },
  internal_error: { status: 500, type: 'api_error' },
  upstream_failed: { status: 502, type: 'upstream_error' },
  manifest_unavailable: { status: 503, type: 'service_unavailable' },
  allowance_unavailable: { status: 503, type: 'service_unavailable' },
  usage_backlog: { status: 503, type: 'service_unavailable' },
  not_configured: { status: 503, type: 'service_unavailable' },
  upstream_timeout: { status: 504, type: 'upstream_error' },
};

export interface ErrorBody {
  error: {
    message: string;
    type: ErrorType;
    code: ErrorCode;
    param: string | null;
    request_id: string | null;
  };
}

/** The one error class: thrown to stop a request; each app's onError turns it into the wire shape. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly param: string | null;
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, options: { param?: string; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.param = options.param ?? null;
    this.headers = options.headers ?? {};
  }

  get status(): ErrorStatus {
    return ERRORS[this.code].status;
  }
}

export function errorBody(
  code: ErrorCode,
  message: string,
  options: { param?: string | null; requestId?: string | null } = {},
): ErrorBody {
  return {
    error: {
      message,
      type: ERRORS[code].type,
      code,
      param: options.param ?? null,
      request_id: options.requestId ?? null,
    },
  };
}
