// Identifiers of catalog objects: supplier slugs and public model ids are text chosen by people
// (they appear in API keys' allowlists and in clients' requests), unlike the UUIDv7 of other rows.

import type { Context } from 'hono';
import { z } from 'zod';
import { ApiError } from '../shared/errors.ts';

/** Same rule as the suppliers.id CHECK in migrations/0001_init.sql. */
export const SupplierId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, _ and -; at most 64');

/** Public model ids as clients send them, e.g. `gpt-4o`, `claude-sonnet-4-5`, `meta-llama/Llama-3.3-70B`. A `/` travels percent-encoded in a path. */
export const ModelId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$/, 'letters, digits and . _ : / @ + -; at most 200');

export const CatalogPageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.string().min(1).max(200).optional(),
});

/** A path id that cannot name a catalog object is answered like a missing one: 404. */
export function pathCatalogId(c: Context, schema: z.ZodType<string>, what: string): string {
  const parsed = schema.safeParse(c.req.param('id') ?? '');
  if (!parsed.success) throw new ApiError('not_found', `No such ${what}.`);
  return parsed.data;
}
