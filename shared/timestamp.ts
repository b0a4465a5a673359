// ISO 8601 timestamps as the APIs take them.

import { z } from 'zod';

const OFFSET = /([+-])(\d{2}):?(\d{2})$/;

/**
 * What zod's ISO check lets through and PostgreSQL refuses ("date/time field value out of range",
 * "time zone displacement out of range"): the year 0000, and a UTC offset beyond ±15:59. Such
 * input became a 500, and in a usage batch one that the edge retries forever.
 */
function storable(value: string): boolean {
  if (value.startsWith('0000')) return false;
  const offset = OFFSET.exec(value);
  return offset === null || Number(offset[2]) <= 15;
}

export function isoTimestamp(options: { offset?: boolean } = {}) {
  return z.iso.datetime(options).refine(storable, { message: 'Out of range: the year 0000, or a UTC offset beyond ±15:59.' });
}
