// What a request carries through the control plane's middleware into its handlers.

import type { Context } from 'hono';
import type { Actor } from './audit.ts';
import type { Principal } from './admin-auth.ts';

export interface AppEnv {
  Variables: {
    requestId: string;
    clientAddr: string | null;
    principal: Principal;
    nodeId: string;
  };
}

export function actorOf(c: Context<AppEnv>): Actor {
  const principal = c.get('principal');
  return {
    userId: principal.userId,
    tokenId: principal.tokenId,
    requestId: c.get('requestId'),
    clientAddr: c.get('clientAddr'),
  };
}
