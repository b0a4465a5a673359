// POST /node/v1/allowances: edges acquire, shrink, close and extend allowance leases in one call
// (shared/allowance.ts, control-plane/allowances.ts).

import { Hono } from 'hono';
import { AllowanceSync } from '../../shared/allowance.ts';
import type { AllowanceService } from '../allowances.ts';
import type { ApiSpec } from '../api-spec.ts';
import type { Database } from '../db.ts';
import type { AppEnv } from '../request-context.ts';
import { parseJsonBody } from '../validation.ts';
import { nodeAuth } from './node-api.ts';

export const nodeAllowanceSpecs: ApiSpec[] = [
  {
    method: 'post',
    path: '/node/v1/allowances',
    summary: 'Acquire allowance leases (slices of wallet, budgets, RPM/TPM), shrink or close returned ones, extend ones with running requests',
    tag: 'node API',
    access: 'node',
    body: AllowanceSync,
    success: { status: 200, description: '{acquired: [granted lease | denial], lost: [lease ids no longer held]}' },
  },
];

export function nodeAllowanceRoutes(deps: { db: Database; now: () => Date; allowances: AllowanceService }) {
  // Auth on the route itself (see node-credentials.ts): mounted beside the other node routes.
  return new Hono<AppEnv>().post('/allowances', nodeAuth(deps.db, deps.now), async (c) => {
    const body = await parseJsonBody(c, AllowanceSync);
    return c.json(await deps.allowances.sync(c.get('nodeId'), body));
  });
}
