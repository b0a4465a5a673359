// The model a client names, as every surface's body and the usage event carry it.

import { z } from 'zod';
import { isStorableText } from './storable-text.ts';

/**
 * 1–200 characters, none of them a control character or a lone surrogate: no model id has one,
 * and the name asked for is written to the request's usage row even when no such model exists,
 * where PostgreSQL cannot store either (shared/storable-text.ts), so the edge refuses the request
 * first.
 */
export const ModelName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'A model name has no control characters.')
  // A lone surrogate is no Unicode text at all, and PostgreSQL's jsonb refuses it (shared/storable-text.ts).
  .refine(isStorableText, 'A model name is well-formed Unicode text.');
