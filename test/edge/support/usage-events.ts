// A usage event as an edge emits it, for tests of the outbox and its store: unique ids, request
// ids and start instants (in order), counts only.

import { uuidv7 } from '../../../shared/ids.ts';
import type { UsageEvent } from '../../../shared/usage.ts';

let sequence = 0;

export function usageEvent(overrides: Partial<UsageEvent> = {}): UsageEvent {
  sequence++;
  return {
    id: uuidv7(),
    request_id: `req_${sequence}`,
    key_id: uuidv7(),
    org_id: uuidv7(),
    user_id: null,
    model: 'm',
    supplier_id: 's',
    region: 'EU',
    endpoint: '/v1/chat/completions',
    status: 200,
    input_tokens: 10,
    output_tokens: 20,
    estimated: false,
    started_at: new Date(Date.UTC(2031, 0, 15, 12, 0, 0, sequence)).toISOString(),
    latency_ms: 5,
    ...overrides,
  };
}
