// GET /v1/models: the models this key may use, in OpenAI's list envelope with our extra fields.
// A listing is not an inference call, so it leaves no usage row.

import type { Handler } from 'hono';
import { ApiError } from '../../shared/errors.ts';
import { ORG_SUSPENDED_MESSAGE, orgActive, visibleModels } from '../policy.ts';
import type { EdgeEnv } from '../request-context.ts';

export function modelsRoute(): Handler<EdgeEnv> {
  return (c) => {
    if (!orgActive(c.get('key'), c.get('manifest'))) throw new ApiError('org_suspended', ORG_SUSPENDED_MESSAGE);
    const data = visibleModels(c.get('key'), c.get('manifest')).map((m) => ({
      id: m.id,
      object: 'model' as const,
      created: 0,
      owned_by: m.owned_by,
      type: m.type,
      context_window: m.context_window,
      max_output_tokens: m.max_output_tokens,
      capabilities: m.capabilities,
      // USD per 1M tokens, as a decimal number for display (billing itself stays in µUSD).
      pricing: m.pricing && { input: m.pricing.input_per_mtok / 1e6, output: m.pricing.output_per_mtok / 1e6 },
    }));
    return c.json({ object: 'list', data });
  };
}
