// PATCH semantics shared by the catalog routes: a body names only the fields it changes, and a
// PATCH that changes nothing writes nothing (no audit row for a change that did not happen).

import { z } from 'zod';

/** A strict object of optional fields that must name at least one. */
export function patchOf<S extends z.ZodRawShape>(shape: S) {
  return z
    .strictObject(shape)
    .partial()
    .refine((body) => Object.values(body).some((v) => v !== undefined), { message: 'Send at least one field to change.' });
}

/** The current row with the body's fields applied. */
export function applyPatch<R extends object>(current: R, patch: Partial<R>): R {
  const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
  return { ...current, ...defined };
}

export function changesAnything<R extends object>(current: R, next: R): boolean {
  return (Object.keys(next) as (keyof R)[]).some((k) => JSON.stringify(current[k]) !== JSON.stringify(next[k]));
}
