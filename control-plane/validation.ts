// Request parsing at the boundary: JSON bodies, query strings and path ids become typed values
// or a documented error (400 for unparsable, 422 with the failing field for invalid).

import type { Context } from 'hono';
import type { z } from 'zod';
import { ApiError } from '../shared/errors.ts';
import { isUuid } from '../shared/ids.ts';

function firstIssue(error: z.ZodError): ApiError {
  const issue = error.issues[0]!;
  const param = issue.path.map(String).join('.') || undefined;
  const message = param ? `Invalid value for '${param}': ${issue.message}` : issue.message;
  return new ApiError('validation_failed', message, param ? { param } : {});
}

/** `optional`: an empty body stands for `{}` (actions whose fields all have defaults). */
export async function parseJsonBody<S extends z.ZodType>(c: Context, schema: S, options: { optional?: boolean } = {}): Promise<z.infer<S>> {
  const text = await c.req.text();
  let raw: unknown = {};
  if (!(options.optional && text.trim() === '')) {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/json\b/i.test(type)) {
      throw new ApiError('unsupported_media_type', 'Send the body as application/json.');
    }
    try {
      raw = JSON.parse(text);
    } catch {
      throw new ApiError('invalid_json', 'The request body is not valid JSON.');
    }
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw firstIssue(parsed.error);
  return parsed.data;
}

export function parseQuery<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) throw firstIssue(parsed.error);
  return parsed.data;
}

/** A path id that is not a UUID names nothing: the same 404 as a missing object. */
export function pathUuid(c: Context, name: string, what: string): string {
  const value = c.req.param(name) ?? '';
  if (!isUuid(value)) throw new ApiError('not_found', `No such ${what}.`);
  return value;
}
