// One conditional GET of this node's sealed credentials from the control plane (I/O only; the
// store in credential-store.ts decides what to keep).

import type { CredentialFetchResult } from './credential-store.ts';
import { readBounded } from './bounded-body.ts';
import type { NodeIdentity } from './node-identity.ts';

const MAX_CREDENTIALS_BYTES = 4 * 1024 * 1024;
const TIMEOUT_MS = 5000;

export async function fetchSealedCredentials(controlPlaneUrl: string, identity: NodeIdentity, etag: string | null): Promise<CredentialFetchResult> {
  const headers: Record<string, string> = { authorization: await identity.authorization() };
  if (etag) headers['if-none-match'] = etag;
  const response = await fetch(`${controlPlaneUrl}/node/v1/credentials`, { headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (response.status === 304) return { status: 'not_modified' };
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`credential fetch answered ${response.status}`);
  }
  const bytes = await readBounded(response, MAX_CREDENTIALS_BYTES);
  if (!bytes) throw new Error(`credential set larger than ${MAX_CREDENTIALS_BYTES} bytes refused`);
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    // The parser's message could quote the body: say only that it was not JSON.
    throw new Error('credential set is not JSON');
  }
  return { status: 'ok', body, etag: response.headers.get('etag') };
}
