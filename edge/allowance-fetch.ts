// One allowance sync with the control plane (I/O only; edge/allowances.ts decides what to ask).

import { AllowanceAnswer, type AllowanceSync } from '../shared/allowance.ts';
import { readBounded } from './bounded-body.ts';
import type { NodeIdentity } from './node-identity.ts';

const MAX_ANSWER_BYTES = 1024 * 1024;
/** A request waits on this call: short, and the lease grace covers a slow control plane. */
const TIMEOUT_MS = 3000;

export async function syncAllowances(controlPlaneUrl: string, identity: NodeIdentity, body: AllowanceSync): Promise<AllowanceAnswer> {
  const response = await fetch(`${controlPlaneUrl}/node/v1/allowances`, {
    method: 'POST',
    headers: { authorization: await identity.authorization(), 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`allowance sync answered ${response.status}`);
  }
  const bytes = await readBounded(response, MAX_ANSWER_BYTES);
  if (!bytes) throw new Error(`allowance answer larger than ${MAX_ANSWER_BYTES} bytes refused`);
  const parsed = AllowanceAnswer.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
  if (!parsed.success) throw new Error('allowance answer has an unexpected shape');
  return parsed.data;
}
