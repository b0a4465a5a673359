// Every management route × every role × an object of the caller's own org and of a foreign org.
// The expectations below are written from PRODUCT.md §3, not read from the code; the walk is built
// from the app's own spec list and fails when a route has no expectation, so no route can ship
// without its authorization (and its audit behaviour) being checked.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_SPECS } from '../../control-plane/routes/all-specs.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';

type Role = 'taas_owner' | 'taas_admin' | 'org_owner' | 'org_admin' | 'user';
type Target = 'own' | 'foreign';
const ROLES: Role[] = ['taas_owner', 'taas_admin', 'org_owner', 'org_admin', 'user'];

interface Call {
  path: string;
  body?: unknown;
}

interface Expectation {
  /** Fresh fixtures per call, so a mutation never depends on an earlier one. */
  call(w: World, role: Role, target: Target): Promise<Call>;
  /** Expected status for this role and target. */
  status(role: Role, target: Target): number;
  /** Whether a 2xx writes exactly one audit row (else: none, whatever the answer). */
  mutates: boolean;
  /** Routes with no tenant object (catalog, self-service) are walked once, as 'own'. */
  targets?: Target[];
  /** Puts shared state back (e.g. an org suspended by the call). */
  after?(w: World, target: Target): Promise<void>;
}

interface World {
  h: Harness;
  orgA: string;
  orgB: string;
  tokens: Record<Role, string>;
  users: Record<Role, string>;
  /** A plain member of each org, owner of the keys the 'user' role may see in A. */
  memberB: { userId: string; token: string };
  org(target: Target): string;
  unique(): string;
}

const platform = (role: Role) => role === 'taas_owner' || role === 'taas_admin';
const manager = (role: Role) => role !== 'user';
/** Owners and admins of org A act in A; in B only platform staff may, the rest get 404. */
const orgScoped = (allowed: (role: Role) => boolean, ok: number) => (role: Role, target: Target) =>
  target === 'foreign' && !platform(role) ? 404 : allowed(role) ? ok : 403;
const staffOnly = (ok: number) => (role: Role) => (platform(role) ? ok : 403);
const ownerOnly = (ok: number) => (role: Role) => (role === 'taas_owner' ? ok : 403);

async function json<T = Record<string, unknown>>(w: World, method: string, path: string, body?: unknown, token?: string): Promise<T> {
  const res = await w.h.request(method, path, { token: token ?? w.h.ownerToken, ...(body === undefined ? {} : { body }) });
  if (res.status >= 300) throw new Error(`fixture ${method} ${path} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

/** A key owned by the org's plain member, so the 'user' role sees its own in A. */
async function keyIn(w: World, target: Target): Promise<string> {
  const owner = target === 'own' ? w.users.user : w.memberB.userId;
  return (await json<{ id: string }>(w, 'POST', '/v1/manage/keys', { org_id: w.org(target), name: 'walk', owner_user_id: owner })).id;
}

async function memberIn(w: World, target: Target): Promise<string> {
  return (await w.h.addUser({ orgId: w.org(target), orgRole: 'user' })).userId;
}

async function nodeIn(w: World): Promise<string> {
  const id = `walk-${w.unique()}`;
  await json(w, 'POST', '/v1/manage/edge-nodes', { id, public_key_jwk: { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) } });
  return id;
}

async function supplier(w: World): Promise<string> {
  const id = `walk-${w.unique()}`;
  await json(w, 'POST', '/v1/manage/suppliers', { id, name: id, format: 'openai', base_url: 'https://supplier.example/v1', region: 'EU' });
  return id;
}

async function model(w: World): Promise<string> {
  const id = `walk-model-${w.unique()}`;
  await json(w, 'POST', '/v1/manage/models', { id, owned_by: 'walk' });
  return id;
}

async function route(w: World): Promise<string> {
  const [m, s] = [await model(w), await supplier(w)];
  return (await json<{ id: string }>(w, 'POST', `/v1/manage/models/${m}/routes`, { supplier_id: s, upstream_model: 'up' })).id;
}

async function credential(w: World): Promise<string> {
  const s = await supplier(w);
  return (await json<{ id: string }>(w, 'POST', `/v1/manage/suppliers/${s}/credentials`, { kind: 'api_key', api_key: 'sk-walk-secret-1234' })).id;
}

/** A usage event ingested through the node API on a key of the org's plain member; answers its request id. */
async function usageIn(w: World, target: Target): Promise<string> {
  const requestId = `req_walk_${w.unique()}`;
  const event = { id: crypto.randomUUID(), request_id: requestId, key_id: await keyIn(w, target), org_id: w.org(target), user_id: null, model: 'walk', supplier_id: null, region: 'EU', endpoint: '/v1/chat/completions', status: 200, input_tokens: 1, output_tokens: 1, estimated: false, started_at: new Date().toISOString(), latency_ms: 1 };
  const res = await w.h.request('POST', '/node/v1/usage', { headers: { authorization: await w.h.nodeAuthorization() }, body: { events: [event] } });
  if (res.status !== 200) throw new Error(`usage ingest answered ${res.status}`);
  return requestId;
}

let thresholdCents = 100;
const nextThresholdUsd = () => thresholdCents++ / 100;

const EXPECTATIONS: Record<string, Expectation> = {
  'post /v1/manage/orgs': { call: async (w) => ({ path: '/v1/manage/orgs', body: { name: 'walk org' } }), status: staffOnly(201), mutates: true, targets: ['own'] },
  'get /v1/manage/orgs': { call: async () => ({ path: '/v1/manage/orgs' }), status: () => 200, mutates: false, targets: ['own'] },
  'get /v1/manage/orgs/:id': { call: async (w, _r, t) => ({ path: `/v1/manage/orgs/${w.org(t)}` }), status: orgScoped(() => true, 200), mutates: false },
  'post /v1/manage/orgs/:id/suspend': {
    call: async (w, _r, t) => ({ path: `/v1/manage/orgs/${w.org(t)}/suspend` }),
    status: orgScoped(platform, 200),
    mutates: true,
    after: async (w, t) => void (await json(w, 'POST', `/v1/manage/orgs/${w.org(t)}/unsuspend`)),
  },
  'post /v1/manage/orgs/:id/unsuspend': {
    call: async (w, _r, t) => {
      await json(w, 'POST', `/v1/manage/orgs/${w.org(t)}/suspend`);
      return { path: `/v1/manage/orgs/${w.org(t)}/unsuspend` };
    },
    status: orgScoped(platform, 200),
    mutates: true,
    after: async (w, t) => void (await json(w, 'POST', `/v1/manage/orgs/${w.org(t)}/unsuspend`)),
  },

  'post /v1/manage/keys': { call: async (w, _r, t) => ({ path: '/v1/manage/keys', body: { org_id: w.org(t), name: 'walk' } }), status: orgScoped(() => true, 201), mutates: true },
  'get /v1/manage/keys': { call: async (w, _r, t) => ({ path: `/v1/manage/keys?org_id=${w.org(t)}` }), status: orgScoped(() => true, 200), mutates: false },
  'get /v1/manage/keys/:id': { call: async (w, _r, t) => ({ path: `/v1/manage/keys/${await keyIn(w, t)}` }), status: orgScoped(() => true, 200), mutates: false },
  'patch /v1/manage/keys/:id': { call: async (w, _r, t) => ({ path: `/v1/manage/keys/${await keyIn(w, t)}`, body: { name: 'renamed' } }), status: orgScoped(() => true, 200), mutates: true },
  'post /v1/manage/keys/:id/rotate': { call: async (w, _r, t) => ({ path: `/v1/manage/keys/${await keyIn(w, t)}/rotate` }), status: orgScoped(() => true, 200), mutates: true },
  'post /v1/manage/keys/:id/revoke': { call: async (w, _r, t) => ({ path: `/v1/manage/keys/${await keyIn(w, t)}/revoke` }), status: orgScoped(() => true, 200), mutates: true },

  'post /v1/manage/edge-nodes': {
    call: async (w) => ({ path: '/v1/manage/edge-nodes', body: { id: `walk-${w.unique()}`, public_key_jwk: { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) } } }),
    status: ownerOnly(201),
    mutates: true,
    targets: ['own'],
  },
  'post /v1/manage/edge-nodes/:id/disable': {
    call: async (w) => ({ path: `/v1/manage/edge-nodes/${await nodeIn(w)}/disable` }),
    status: ownerOnly(200),
    mutates: true,
    targets: ['own'],
  },
  'post /v1/manage/edge-nodes/:id/enable': {
    call: async (w) => {
      const id = await nodeIn(w);
      await json(w, 'POST', `/v1/manage/edge-nodes/${id}/disable`);
      return { path: `/v1/manage/edge-nodes/${id}/enable` };
    },
    status: ownerOnly(200),
    mutates: true,
    targets: ['own'],
  },
  'get /v1/manage/audit': { call: async (w, _r, t) => ({ path: `/v1/manage/audit?org_id=${w.org(t)}` }), status: (r, t) => (r === 'user' ? 403 : orgScoped(manager, 200)(r, t)), mutates: false },
  // Usage: everyone reads in their org (a plain member only their own keys' rows; the event here is on their key).
  'get /v1/manage/usage': { call: async (w, _r, t) => ({ path: `/v1/manage/usage?org_id=${w.org(t)}&group_by=key,model` }), status: orgScoped(() => true, 200), mutates: false },
  'get /v1/manage/usage/monthly': { call: async (w, _r, t) => ({ path: `/v1/manage/usage/monthly?org_id=${w.org(t)}` }), status: orgScoped(() => true, 200), mutates: false },
  'get /v1/manage/usage/requests/:request_id': { call: async (w, _r, t) => ({ path: `/v1/manage/usage/requests/${await usageIn(w, t)}` }), status: orgScoped(() => true, 200), mutates: false },

  'get /v1/manage/users/me': { call: async () => ({ path: '/v1/manage/users/me' }), status: () => 200, mutates: false, targets: ['own'] },
  'post /v1/manage/users': { call: async (w) => ({ path: '/v1/manage/users', body: { email: `walk-${w.unique()}@example.test` } }), status: staffOnly(201), mutates: true, targets: ['own'] },
  'get /v1/manage/users': { call: async () => ({ path: '/v1/manage/users' }), status: staffOnly(200), mutates: false, targets: ['own'] },
  // 'own' is the caller themself; 'foreign' another tenant's member, invisible to all but staff.
  'get /v1/manage/users/:id': {
    call: async (w, r, t) => ({ path: `/v1/manage/users/${t === 'own' ? w.users[r] : w.memberB.userId}` }),
    status: (r, t) => (t === 'own' || platform(r) ? 200 : 404),
    mutates: false,
  },
  'post /v1/manage/users/:id/disable': { call: async (w, _r, t) => ({ path: `/v1/manage/users/${await memberIn(w, t)}/disable` }), status: (r) => (platform(r) ? 200 : 404), mutates: true },
  'post /v1/manage/users/:id/enable': {
    call: async (w, _r, t) => {
      const id = await memberIn(w, t);
      await json(w, 'POST', `/v1/manage/users/${id}/disable`);
      return { path: `/v1/manage/users/${id}/enable` };
    },
    status: (r) => (platform(r) ? 200 : 404),
    mutates: true,
  },
  'put /v1/manage/users/:id/platform-role': {
    call: async (w, _r, t) => ({ path: `/v1/manage/users/${await memberIn(w, t)}/platform-role`, body: { role: 'taas_admin' } }),
    status: (r) => (r === 'taas_owner' ? 200 : r === 'taas_admin' ? 403 : 404),
    mutates: true,
  },

  'get /v1/manage/orgs/:id/members': { call: async (w, _r, t) => ({ path: `/v1/manage/orgs/${w.org(t)}/members` }), status: orgScoped(() => true, 200), mutates: false },
  // Another member is invisible to a plain user (404), like any object they may not see.
  'patch /v1/manage/orgs/:id/members/:userId': {
    call: async (w, _r, t) => ({ path: `/v1/manage/orgs/${w.org(t)}/members/${await memberIn(w, t)}`, body: { budget_limit: 5, budget_period: 'daily' } }),
    status: (r, t) => (r === 'user' ? 404 : orgScoped(manager, 200)(r, t)),
    mutates: true,
  },
  'delete /v1/manage/orgs/:id/members/:userId': {
    call: async (w, _r, t) => ({ path: `/v1/manage/orgs/${w.org(t)}/members/${await memberIn(w, t)}` }),
    status: (r, t) => (r === 'user' ? 404 : orgScoped(manager, 204)(r, t)),
    mutates: true,
  },
  'post /v1/manage/orgs/:id/invitations': {
    call: async (w, _r, t) => ({ path: `/v1/manage/orgs/${w.org(t)}/invitations`, body: { email: `inv-${w.unique()}@example.test`, role: 'user' } }),
    status: orgScoped(manager, 201),
    mutates: true,
  },
  'get /v1/manage/orgs/:id/invitations': { call: async (w, _r, t) => ({ path: `/v1/manage/orgs/${w.org(t)}/invitations` }), status: orgScoped(manager, 200), mutates: false },
  'post /v1/manage/invitations/:id/revoke': {
    call: async (w, _r, t) => {
      const inv = await json<{ id: string }>(w, 'POST', `/v1/manage/orgs/${w.org(t)}/invitations`, { email: `inv-${w.unique()}@example.test`, role: 'user' });
      return { path: `/v1/manage/invitations/${inv.id}/revoke` };
    },
    status: (r, t) => (r === 'user' ? 404 : orgScoped(manager, 200)(r, t)),
    mutates: true,
  },

  'post /v1/manage/tokens': { call: async () => ({ path: '/v1/manage/tokens', body: { name: 'walk' } }), status: () => 201, mutates: true, targets: ['own'] },
  'get /v1/manage/tokens': { call: async () => ({ path: '/v1/manage/tokens' }), status: () => 200, mutates: false, targets: ['own'] },
  // 'own' is a token of the caller; 'foreign' one of another tenant's member.
  'post /v1/manage/tokens/:id/revoke': {
    call: async (w, r, t) => {
      const token = t === 'own' ? w.tokens[r] : w.memberB.token;
      const created = await json<{ id: string }>(w, 'POST', '/v1/manage/tokens', { name: 'to revoke' }, token);
      return { path: `/v1/manage/tokens/${created.id}/revoke` };
    },
    status: (r, t) => (t === 'own' || platform(r) ? 200 : 404),
    mutates: true,
  },

  'post /v1/manage/suppliers': {
    call: async (w) => ({ path: '/v1/manage/suppliers', body: { id: `walk-${w.unique()}`, name: 'w', format: 'openai', base_url: 'https://s.example/v1', region: 'EU' } }),
    status: ownerOnly(201),
    mutates: true,
    targets: ['own'],
  },
  'get /v1/manage/suppliers': { call: async () => ({ path: '/v1/manage/suppliers' }), status: staffOnly(200), mutates: false, targets: ['own'] },
  'get /v1/manage/suppliers/:id': { call: async (w) => ({ path: `/v1/manage/suppliers/${await supplier(w)}` }), status: staffOnly(200), mutates: false, targets: ['own'] },
  'patch /v1/manage/suppliers/:id': { call: async (w) => ({ path: `/v1/manage/suppliers/${await supplier(w)}`, body: { name: 'renamed' } }), status: ownerOnly(200), mutates: true, targets: ['own'] },
  'post /v1/manage/suppliers/:id/credentials': {
    call: async (w) => ({ path: `/v1/manage/suppliers/${await supplier(w)}/credentials`, body: { kind: 'api_key', api_key: 'sk-walk-secret-5678' } }),
    status: ownerOnly(201),
    mutates: true,
    targets: ['own'],
  },
  'get /v1/manage/suppliers/:id/credentials': { call: async (w) => ({ path: `/v1/manage/suppliers/${await supplier(w)}/credentials` }), status: staffOnly(200), mutates: false, targets: ['own'] },
  'post /v1/manage/credentials/:id/retire': { call: async (w) => ({ path: `/v1/manage/credentials/${await credential(w)}/retire` }), status: ownerOnly(200), mutates: true, targets: ['own'] },
  'post /v1/manage/models': { call: async (w) => ({ path: '/v1/manage/models', body: { id: `walk-m-${w.unique()}`, owned_by: 'w' } }), status: staffOnly(201), mutates: true, targets: ['own'] },
  'get /v1/manage/models': { call: async () => ({ path: '/v1/manage/models' }), status: staffOnly(200), mutates: false, targets: ['own'] },
  'get /v1/manage/models/:id': { call: async (w) => ({ path: `/v1/manage/models/${await model(w)}` }), status: staffOnly(200), mutates: false, targets: ['own'] },
  'patch /v1/manage/models/:id': { call: async (w) => ({ path: `/v1/manage/models/${await model(w)}`, body: { owned_by: 'changed' } }), status: staffOnly(200), mutates: true, targets: ['own'] },
  'post /v1/manage/models/:id/prices': {
    call: async (w) => ({ path: `/v1/manage/models/${await model(w)}/prices`, body: { effective_from: new Date().toISOString(), input_per_mtok: 1, output_per_mtok: 2 } }),
    status: staffOnly(201),
    mutates: true,
    targets: ['own'],
  },
  'get /v1/manage/models/:id/prices': { call: async (w) => ({ path: `/v1/manage/models/${await model(w)}/prices` }), status: staffOnly(200), mutates: false, targets: ['own'] },
  'post /v1/manage/models/:id/routes': {
    call: async (w) => ({ path: `/v1/manage/models/${await model(w)}/routes`, body: { supplier_id: await supplier(w), upstream_model: 'up' } }),
    status: staffOnly(201),
    mutates: true,
    targets: ['own'],
  },
  'get /v1/manage/models/:id/routes': { call: async (w) => ({ path: `/v1/manage/models/${await model(w)}/routes` }), status: staffOnly(200), mutates: false, targets: ['own'] },
  'patch /v1/manage/routes/:id': { call: async (w) => ({ path: `/v1/manage/routes/${await route(w)}`, body: { priority: 7 } }), status: staffOnly(200), mutates: true, targets: ['own'] },
  'delete /v1/manage/routes/:id': { call: async (w) => ({ path: `/v1/manage/routes/${await route(w)}` }), status: staffOnly(204), mutates: true, targets: ['own'] },

  // Wallet: owners and admins read; owners set the threshold and top up; only platform staff move money by hand.
  'get /v1/manage/orgs/:id/wallet': { call: async (w, _r, t) => ({ path: `/v1/manage/orgs/${w.org(t)}/wallet` }), status: orgScoped(manager, 200), mutates: false },
  'patch /v1/manage/orgs/:id/wallet': {
    // A new value each call, so every allowed call changes something (and writes its audit row).
    call: async (w, _r, t) => ({ path: `/v1/manage/orgs/${w.org(t)}/wallet`, body: { low_balance_threshold_usd: nextThresholdUsd() } }),
    status: orgScoped((r) => r !== 'org_admin' && r !== 'user', 200),
    mutates: true,
  },
  'get /v1/manage/orgs/:id/wallet/entries': { call: async (w, _r, t) => ({ path: `/v1/manage/orgs/${w.org(t)}/wallet/entries` }), status: orgScoped(manager, 200), mutates: false },
  'post /v1/manage/orgs/:id/wallet/adjustments': {
    call: async (w, _r, t) => ({ path: `/v1/manage/orgs/${w.org(t)}/wallet/adjustments`, body: { amount_usd: 1, kind: 'adjustment', memo: 'walk' } }),
    status: orgScoped(platform, 201),
    mutates: true,
  },
  'get /v1/manage/orgs/:id/alerts': { call: async (w, _r, t) => ({ path: `/v1/manage/orgs/${w.org(t)}/alerts` }), status: orgScoped(manager, 200), mutates: false },
  // The harness runs without Stripe: whoever may top up gets 503 not_configured (after the
  // authorization checks), and nothing is written. topups.test.ts covers the configured path.
  'post /v1/manage/orgs/:id/topups': {
    call: async (w, _r, t) => ({ path: `/v1/manage/orgs/${w.org(t)}/topups`, body: { amount_usd: 10 } }),
    status: orgScoped((r) => r !== 'org_admin' && r !== 'user', 503),
    mutates: true,
  },
  'get /v1/manage/orgs/:id/topups': { call: async (w, _r, t) => ({ path: `/v1/manage/orgs/${w.org(t)}/topups` }), status: orgScoped(manager, 200), mutates: false },
};

/** Routes not walked here, each with the reason and the test that covers it instead. */
const NOT_WALKED: Record<string, string> = {
  'get /healthz': 'public liveness',
  'get /openapi.json': 'public document (openapi.test.ts)',
  'get /node/v1/manifest': 'node token, not a role (node-api.test.ts)',
  'get /node/v1/manifest/shards/:sha256': 'node token, not a role (manifest-shards.test.ts)',
  'post /node/v1/usage': 'node token, not a role (node-api.test.ts)',
  'get /node/v1/credentials': 'node token, not a role (node-credentials.test.ts)',
  'post /node/v1/allowances': 'node token, not a role (allowances.test.ts)',
  'post /v1/manage/invitations/accept': 'the invitation token is the credential (invitations.test.ts)',
  'post /v1/stripe/webhook': "Stripe's signature, not a role (stripe-webhook.test.ts)",
};

const routeKey = (s: { method: string; path: string }) => `${s.method} ${s.path}`;

let w: World;

beforeAll(async () => {
  const h = await createHarness();
  let counter = 0;
  const org = async (name: string) => ((await (await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: { name } })).json()) as { id: string }).id;
  const [orgA, orgB] = [await org('Walk A'), await org('Walk B')];
  const admin = await h.addUser({ platformRole: 'taas_admin' });
  const owner = await h.addUser({ orgId: orgA, orgRole: 'org_owner' });
  const orgAdmin = await h.addUser({ orgId: orgA, orgRole: 'org_admin' });
  const user = await h.addUser({ orgId: orgA, orgRole: 'user' });
  const memberB = await h.addUser({ orgId: orgB, orgRole: 'user' });
  const me = await h.request('GET', '/v1/manage/users/me', { token: h.ownerToken });
  const ownerId = ((await me.json()) as { id: string }).id;
  w = {
    h,
    orgA,
    orgB,
    tokens: { taas_owner: h.ownerToken, taas_admin: admin.token, org_owner: owner.token, org_admin: orgAdmin.token, user: user.token },
    users: { taas_owner: ownerId, taas_admin: admin.userId, org_owner: owner.userId, org_admin: orgAdmin.userId, user: user.userId },
    memberB,
    org: (t) => (t === 'own' ? orgA : orgB),
    unique: () => `${Date.now().toString(36)}${(counter++).toString(36)}`,
  };
}, 60_000);
afterAll(() => w?.h.close());

describe('route walk: every management route × role × own/foreign object', () => {
  const walked = API_SPECS.filter((s) => !(routeKey(s) in NOT_WALKED));

  it('has an expectation for every route the app serves, and none for a route it does not', () => {
    const served = API_SPECS.map(routeKey);
    expect(walked.map(routeKey).filter((k) => !(k in EXPECTATIONS))).toEqual([]);
    expect(Object.keys(EXPECTATIONS).filter((k) => !served.includes(k))).toEqual([]);
    expect(Object.keys(NOT_WALKED).filter((k) => !served.includes(k))).toEqual([]);
  });

  it.each(walked.map((s) => [routeKey(s), s] as const))('%s', async (key, spec) => {
    const expectation = EXPECTATIONS[key];
    if (!expectation) return; // reported by the test above
    const auditCount = async () => Number((await w.h.testDb.db.query('SELECT count(*) AS n FROM audit_log')).rows[0]!.n);
    const failures: string[] = [];
    for (const target of expectation.targets ?? (['own', 'foreign'] as const)) {
      for (const role of ROLES) {
        const call = await expectation.call(w, role, target);
        const before = await auditCount();
        const res = await w.h.request(spec.method.toUpperCase(), call.path, { token: w.tokens[role], ...(call.body === undefined ? {} : { body: call.body }) });
        const expected = expectation.status(role, target);
        const wrote = (await auditCount()) - before;
        const expectedRows = expectation.mutates && res.status < 300 ? 1 : 0;
        await expectation.after?.(w, target);
        if (res.status !== expected || wrote !== expectedRows) {
          failures.push(`${role} on ${target}: status ${res.status} (expected ${expected}), audit rows ${wrote} (expected ${expectedRows}) ${res.status >= 400 ? await res.text() : ''}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });
});
