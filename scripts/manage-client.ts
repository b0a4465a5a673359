// A tiny client of the management API for local tooling and tests: real HTTP, bearer token.

import type { JWK } from 'jose';

async function call<T>(baseUrl: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as T };
}

export async function manage<T = Record<string, unknown>>(baseUrl: string, token: string, method: string, path: string, body?: unknown): Promise<T> {
  const { status, json } = await call<T>(baseUrl, token, method, path, body);
  if (status >= 300) throw new Error(`${method} ${path} answered ${status}: ${JSON.stringify(json)}`);
  return json;
}

/** Registers the node; an existing registration of the same id is fine. */
export async function registerEdgeNode(baseUrl: string, token: string, node: { id: string; publicJwk: JWK; encryptionJwk?: JWK }): Promise<void> {
  const { kid: _kid, alg: _alg, ...publicKey } = node.publicJwk;
  const body = { id: node.id, name: node.id, public_key_jwk: publicKey, ...(node.encryptionJwk ? { encryption_jwk: node.encryptionJwk } : {}) };
  const { status, json } = await call(baseUrl, token, 'POST', '/v1/manage/edge-nodes', body);
  if (status !== 201 && status !== 409) throw new Error(`registering edge node answered ${status}: ${JSON.stringify(json)}`);
}

export const DEMO_CREDIT_USD = 25;

export async function createDemoOrgAndKey(
  baseUrl: string,
  token: string,
  names: { orgName: string; keyName: string },
): Promise<{ orgId: string; keyId: string; key: string }> {
  const org = await manage<{ id: string }>(baseUrl, token, 'POST', '/v1/manage/orgs', { name: names.orgName });
  // Wallets are prepaid (an empty one answers 402): the demo org starts with demo credit.
  await manage(baseUrl, token, 'POST', `/v1/manage/orgs/${org.id}/wallet/adjustments`, { amount_usd: DEMO_CREDIT_USD, kind: 'adjustment', memo: 'Demo credit' });
  const key = await manage<{ id: string; key: string }>(baseUrl, token, 'POST', '/v1/manage/keys', { org_id: org.id, name: names.keyName });
  return { orgId: org.id, keyId: key.id, key: key.key };
}
