// Cursor pagination shared by every list: `?limit=1..100&after=<id>`; ids are UUIDv7, so id
// order is creation order and the cursor is simply the last id of the page.

import { z } from 'zod';

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.uuid().optional(),
});

export interface Page<T> {
  object: 'list';
  data: T[];
  next_cursor: string | null;
}

/** Query with limit + 1 rows; the extra row only tells whether another page exists. */
export function toPage<R extends { id: string }, T>(rows: R[], limit: number, present: (row: R) => T): Page<T> {
  const pageRows = rows.slice(0, limit);
  return {
    object: 'list',
    data: pageRows.map(present),
    next_cursor: rows.length > limit ? pageRows[pageRows.length - 1]!.id : null,
  };
}
