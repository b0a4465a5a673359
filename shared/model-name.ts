// The model a client names, as every surface's body and the usage event carry it.

import { z } from 'zod';

/**
 * 1–200 characters, none of them a control character: no model id has one, and the name asked for
 * is written to the request's usage row even when no such model exists, where PostgreSQL's text
 * cannot hold U+0000 (an event it refuses is dropped, so the edge refuses the request first).
 */
export const ModelName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'A model name has no control characters.');
