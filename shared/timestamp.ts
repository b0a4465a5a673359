// ISO 8601 timestamps as the APIs take them.

import { z } from 'zod';

/**
 * zod's ISO check lets the year 0000 through, which PostgreSQL refuses ("date/time field value
 * out of range"): such input became a 500, and in a usage batch one that the edge retries forever.
 */
export function isoTimestamp(options: { offset?: boolean } = {}) {
  return z.iso.datetime(options).refine((value) => !value.startsWith('0000'), { message: 'The year 0000 is out of range.' });
}
