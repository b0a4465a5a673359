// Money and budget fields as the management API takes them: USD as a JSON number (PRODUCT.md:
// `"budget_limit": 500.00`), parsed exactly into integer µUSD, and the budget periods.

import { z } from 'zod';
import { usdToMicros } from '../shared/money.ts';

export const UsdAmount = z
  .number()
  .nonnegative()
  .transform((usd, ctx) => {
    const micros = usdToMicros(usd);
    if (micros === null) {
      ctx.addIssue({ code: 'custom', message: 'must be a USD amount with at most 6 decimals' });
      return z.NEVER;
    }
    return micros;
  });

export const BudgetPeriod = z.enum(['daily', 'monthly', 'cumulative']);
