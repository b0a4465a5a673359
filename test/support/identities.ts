// Builders and probes for the identity tests (users, members, invitations, tokens) on a Harness.

import { expect } from 'vitest';
import type { Harness } from './control-plane.ts';

export async function createOrg(h: Harness, name = 'Org'): Promise<string> {
  const res = await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: { name } });
  if (res.status !== 201) throw new Error(`org creation answered ${res.status}`);
  return ((await res.json()) as { id: string }).id;
}

export async function json<T = Record<string, unknown>>(res: Response | Promise<Response>): Promise<T> {
  return (await (await res).json()) as T;
}

export async function auditCount(h: Harness): Promise<number> {
  return Number((await h.testDb.db.query<{ n: string }>('SELECT count(*) AS n FROM audit_log')).rows[0]!.n);
}

export async function manifestVersion(h: Harness): Promise<number> {
  return Number((await h.testDb.db.query<{ v: string }>('SELECT version AS v FROM manifest_state')).rows[0]!.v);
}

/**
 * Everything an identity request could change, as one string: accounts, memberships,
 * invitations, tokens (not last_used_at, which authentication itself keeps), the audit log's
 * length and the manifest version.
 */
export async function identityState(h: Harness): Promise<string> {
  const { rows } = await h.testDb.db.query<{ state: string }>(
    `SELECT concat_ws('|',
       (SELECT json_agg(u ORDER BY u.id) FROM users u)::text,
       (SELECT json_agg(m ORDER BY m.org_id, m.user_id) FROM org_members m)::text,
       (SELECT json_agg(i ORDER BY i.id) FROM invitations i)::text,
       (SELECT json_agg(json_build_object('id', t.id, 'user', t.user_id, 'expires', t.expires_at, 'revoked', t.revoked_at) ORDER BY t.id) FROM admin_tokens t)::text,
       (SELECT count(*) FROM audit_log)::text,
       (SELECT version FROM manifest_state)::text) AS state`,
  );
  return rows[0]!.state;
}

/** Runs a request that must be refused with `status` and must change nothing at all. */
export async function expectRefusedWithoutChange(h: Harness, status: number, send: () => Promise<Response>): Promise<Record<string, unknown>> {
  const before = await identityState(h);
  const res = await send();
  const body = (await res.json()) as { error: Record<string, unknown> };
  expect(res.status, JSON.stringify(body)).toBe(status);
  expect(await identityState(h)).toBe(before);
  return { ...body.error, request_id: null };
}
