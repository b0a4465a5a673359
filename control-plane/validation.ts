// Request parsing at the boundary: JSON bodies, query strings and path ids become typed values
// or a documented error (400 for unparsable, 422 with the failing field for invalid).

import type { Context } from 'hono';
import type { z } from 'zod';
import { ApiError } from '../shared/errors.ts';
import { isUuid } from '../shared/ids.ts';
import { isStorableText } from '../shared/storable-text.ts';

function firstIssue(error: z.ZodError): ApiError {
  const issue = error.issues[0]!;
  const param = issue.path.map(String).join('.') || undefined;
  const message = param ? `Invalid value for '${param}': ${issue.message}` : issue.message;
  return new ApiError('validation_failed', message, param ? { param } : {});
}

/**
 * The path of the first string (a value or an object's key) PostgreSQL cannot store (U+0000, or a
 * lone surrogate: shared/storable-text.ts), or null. It would fail the statement (a 500, and for a
 * usage batch one its edge retries forever): refused here as bad input.
 */
function unstorableAt(value: unknown, path: string[] = []): string[] | null {
  if (typeof value === 'string') return isStorableText(value) ? null : path;
  if (typeof value !== 'object' || value === null) return null;
  for (const [key, item] of Object.entries(value)) {
    if (!isStorableText(key)) return path;
    const found = unstorableAt(item, [...path, key]);
    if (found) return found;
  }
  return null;
}

function refuseUnstorable(value: unknown): void {
  const path = unstorableAt(value);
  if (!path) return;
  const param = path.join('.') || undefined;
  const message = 'Text may not contain the NUL character (U+0000) or a lone UTF-16 surrogate.';
  throw new ApiError('validation_failed', param ? `Invalid value for '${param}': ${message}` : message, param ? { param } : {});
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
  refuseUnstorable(raw);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw firstIssue(parsed.error);
  return parsed.data;
}

export function parseQuery<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  const query = c.req.query();
  refuseUnstorable(query);
  const parsed = schema.safeParse(query);
  if (!parsed.success) throw firstIssue(parsed.error);
  return parsed.data;
}

/** A path id that is not a UUID names nothing: the same 404 as a missing object. */
export function pathUuid(c: Context, name: string, what: string): string {
  const value = c.req.param(name) ?? '';
  if (!isUuid(value)) throw new ApiError('not_found', `No such ${what}.`);
  return value;
}
