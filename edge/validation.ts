// Body validation at the edge boundary: a schema failure becomes a 422 naming the field.

import type { z } from 'zod';
import { ApiError } from '../shared/errors.ts';

export function parseBody<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const param = issue.path.map(String).join('.');
  throw new ApiError('validation_failed', param ? `Invalid value for '${param}': ${issue.message}` : issue.message, param ? { param } : {});
}
