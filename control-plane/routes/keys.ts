// /v1/manage/keys: create (the raw key is in that one response only), list, read, change the
// policy, rotate the secret with an overlap, revoke.

import { Hono, type Context } from 'hono';
import { generateToken, hashToken, tokenDisplayPrefix } from '../../shared/api-key.ts';
import { ApiError } from '../../shared/errors.ts';
import { uuidv7 } from '../../shared/ids.ts';
import type { Principal } from '../admin-auth.ts';
import type { ApiSpec } from '../api-spec.ts';
import { writeAudit } from '../audit.ts';
import { canChangeKey, keyScope } from '../authz.ts';
import type { Database, Queryable } from '../db.ts';
import { CreateKey, ListKeys, RotateKey, UpdateKey, presentKey } from '../key-schemas.ts';
import { withinOwnerLimits, type KeyPolicy } from '../key-policy.ts';
import { toPage } from '../pagination.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { findKey, findOwnerLimits, insertKey, listKeys, revokeKey, rotateKeySecret, updateKeyPolicy, type KeyRow } from '../sql/keys.ts';
import { bumpManifestVersion } from '../sql/manifest.ts';
import { findMember } from '../sql/members.ts';
import type { OrgRole } from '../sql/principals.ts';
import { parseJsonBody, parseQuery, pathUuid } from '../validation.ts';

export const keySpecs: ApiSpec[] = [
  { method: 'post', path: '/v1/manage/keys', summary: 'Create an API key; the raw key is in this response only', tag: 'keys', access: 'admin', body: CreateKey, success: { status: 201, description: 'The key, with `key` shown once' } },
  { method: 'get', path: '/v1/manage/keys', summary: 'List API keys of an org (prefix only)', tag: 'keys', access: 'admin', query: ListKeys, success: { status: 200, description: 'A page of keys' } },
  { method: 'get', path: '/v1/manage/keys/:id', summary: 'Read an API key (prefix only)', tag: 'keys', access: 'admin', success: { status: 200, description: 'The key' } },
  { method: 'patch', path: '/v1/manage/keys/:id', summary: "Change a key's policy (within its owner's limits)", tag: 'keys', access: 'admin', body: UpdateKey, success: { status: 200, description: 'The key' } },
  { method: 'post', path: '/v1/manage/keys/:id/rotate', summary: 'New secret; the previous one works for overlap_seconds', tag: 'keys', access: 'admin', body: RotateKey, success: { status: 200, description: 'The key, with the new `key` shown once' } },
  { method: 'post', path: '/v1/manage/keys/:id/revoke', summary: 'Revoke an API key (idempotent)', tag: 'keys', access: 'admin', success: { status: 200, description: 'The revoked key' } },
];

/** The org a request addresses: the one named, or the caller's only org. */
function targetOrg(p: Principal, named: string | undefined): string {
  if (named) return named;
  if (p.orgRoles.size === 1) return [...p.orgRoles.keys()][0]!;
  throw new ApiError('validation_failed', "Invalid value for 'org_id': required when you belong to more than one org.", { param: 'org_id' });
}

/** A key the caller may manage, or the same 404 whether it is foreign or missing. */
async function visibleKey(db: Queryable, p: Principal, id: string, options: { forUpdate?: boolean } = {}): Promise<KeyRow> {
  const key = await findKey(db, id, options);
  const scope = key ? keyScope(p, key.org_id) : null;
  if (!key || !scope || (scope === 'own' && key.owner_user_id !== p.userId)) throw new ApiError('not_found', 'No such API key.');
  return key;
}

/** A key the caller may change: visible (else 404), and its owner within the caller's reach (else 403). */
async function changeableKey(tx: Queryable, p: Principal, id: string): Promise<KeyRow> {
  const key = await visibleKey(tx, p, id, { forUpdate: true });
  const owner = key.owner_user_id === null ? null : { userId: key.owner_user_id, role: (await findMember(tx, key.org_id, key.owner_user_id))?.role ?? null };
  if (!canChangeKey(p, key.org_id, owner)) throw new ApiError('forbidden', "Only an org_owner may change an org_owner's keys.");
  return key;
}

/**
 * The policy as stored, after checking it against the owner's limits in the key's org, with the
 * owner's role there (null for a key without an owner).
 */
async function ownerCheckedPolicy(tx: Queryable, orgId: string, ownerUserId: string | null, requested: KeyPolicy): Promise<{ policy: KeyPolicy; ownerRole: OrgRole | null }> {
  if (!ownerUserId) return { policy: requested, ownerRole: null };
  const limits = await findOwnerLimits(tx, orgId, ownerUserId);
  if (!limits) throw new ApiError('validation_failed', "Invalid value for 'owner_user_id': not a member of this org.", { param: 'owner_user_id' });
  const check = withinOwnerLimits(requested, limits);
  if (!check.ok) throw new ApiError('validation_failed', check.message, { param: check.param });
  return { policy: check.policy, ownerRole: limits.role };
}

function futureOrNull(expiresAt: string | null | undefined, now: Date): string | null {
  if (!expiresAt) return null;
  if (Date.parse(expiresAt) <= now.getTime()) {
    throw new ApiError('validation_failed', "Invalid value for 'expires_at': must be in the future.", { param: 'expires_at' });
  }
  return expiresAt;
}

async function mutateKey(db: Database, c: Context<AppEnv>, id: string, action: string, change: (tx: Queryable, key: KeyRow) => Promise<KeyRow>) {
  return db.transaction(async (tx) => {
    const before = await changeableKey(tx, c.get('principal'), id);
    if (before.status === 'revoked') throw new ApiError('conflict', 'This API key is revoked.');
    const after = await change(tx, before);
    await writeAudit(tx, actorOf(c), { action, targetType: 'api_key', targetId: id, orgId: before.org_id, before: presentKey(before), after: presentKey(after) });
    await bumpManifestVersion(tx);
    return after;
  });
}

export function keyRoutes(deps: { db: Database; now: () => Date }) {
  return new Hono<AppEnv>()
    .post('/', async (c) => {
      const body = await parseJsonBody(c, CreateKey);
      const principal = c.get('principal');
      const orgId = targetOrg(principal, body.org_id);
      const scope = keyScope(principal, orgId);
      if (!scope) throw new ApiError('not_found', 'No such org.', { param: 'org_id' });
      const owner = body.owner_user_id ?? (principal.orgRoles.has(orgId) ? principal.userId : null);
      if (scope === 'own' && owner !== principal.userId) throw new ApiError('forbidden', 'You may create keys only for yourself.', { param: 'owner_user_id' });
      const expiresAt = futureOrNull(body.expires_at, deps.now());
      const raw = generateToken('api_key');
      const row = await deps.db.transaction(async (tx) => {
        if ((await tx.query('SELECT 1 FROM orgs WHERE id = $1', [orgId])).rowCount === 0) throw new ApiError('not_found', 'No such org.', { param: 'org_id' });
        const { policy, ownerRole } = await ownerCheckedPolicy(tx, orgId, owner, {
          allowedModels: body.allowed_models,
          allowedRegions: body.allowed_regions,
          allowedSuppliers: body.allowed_suppliers,
          budgetLimitMicros: body.budget_limit ?? null,
          budgetPeriod: body.budget_period ?? null,
        });
        if (!canChangeKey(principal, orgId, owner === null ? null : { userId: owner, role: ownerRole })) {
          throw new ApiError('forbidden', 'Only an org_owner may create keys for an org_owner.', { param: 'owner_user_id' });
        }
        const created = await insertKey(tx, {
          id: uuidv7(deps.now().getTime()),
          orgId,
          ownerUserId: owner,
          name: body.name,
          keyHash: await hashToken(raw),
          prefix: tokenDisplayPrefix(raw),
          ...policy,
          rateLimitRpm: body.rate_limit_rpm ?? null,
          rateLimitTpm: body.rate_limit_tpm ?? null,
          expiresAt,
        });
        await writeAudit(tx, actorOf(c), { action: 'api_key.create', targetType: 'api_key', targetId: created.id, orgId, after: presentKey(created) });
        await bumpManifestVersion(tx);
        return created;
      });
      return c.json({ ...presentKey(row), key: raw }, 201);
    })
    .get('/', async (c) => {
      const query = parseQuery(c, ListKeys);
      const principal = c.get('principal');
      const orgId = targetOrg(principal, query.org_id);
      const scope = keyScope(principal, orgId);
      if (!scope) throw new ApiError('not_found', 'No such org.', { param: 'org_id' });
      const rows = await listKeys(deps.db, { orgId, ownerUserId: scope === 'own' ? principal.userId : null, after: query.after ?? null, limit: query.limit + 1 });
      return c.json(toPage(rows, query.limit, presentKey));
    })
    .get('/:id', async (c) => c.json(presentKey(await visibleKey(deps.db, c.get('principal'), pathUuid(c, 'id', 'API key')))))
    .patch('/:id', async (c) => {
      const id = pathUuid(c, 'id', 'API key');
      const body = await parseJsonBody(c, UpdateKey);
      const expiresAt = body.expires_at === undefined ? undefined : futureOrNull(body.expires_at, deps.now());
      // The budget is one setting: `null` for either half clears both (UpdateKey refuses a null
      // beside a value, and a value without its other half).
      const clearsBudget = body.budget_limit === null || body.budget_period === null;
      const key = await mutateKey(deps.db, c, id, 'api_key.update', async (tx, before) => {
        const { policy } = await ownerCheckedPolicy(tx, before.org_id, before.owner_user_id, {
          allowedModels: body.allowed_models ?? before.allowed_models,
          allowedRegions: body.allowed_regions ?? before.allowed_regions,
          allowedSuppliers: body.allowed_suppliers ?? before.allowed_suppliers,
          budgetLimitMicros: clearsBudget ? null : (body.budget_limit ?? (before.budget_limit_micros === null ? null : Number(before.budget_limit_micros))),
          budgetPeriod: clearsBudget ? null : (body.budget_period ?? before.budget_period),
        });
        return updateKeyPolicy(tx, id, {
          name: body.name ?? before.name,
          ...policy,
          rateLimitRpm: body.rate_limit_rpm !== undefined ? body.rate_limit_rpm : before.rate_limit_rpm,
          rateLimitTpm: body.rate_limit_tpm !== undefined ? body.rate_limit_tpm : before.rate_limit_tpm,
          expiresAt: expiresAt !== undefined ? expiresAt : (before.expires_at?.toISOString() ?? null),
        });
      });
      return c.json(presentKey(key));
    })
    .post('/:id/rotate', async (c) => {
      const id = pathUuid(c, 'id', 'API key');
      const body = await parseJsonBody(c, RotateKey, { optional: true });
      const raw = generateToken('api_key');
      const overlapEnds = body.overlap_seconds > 0 ? new Date(deps.now().getTime() + body.overlap_seconds * 1000).toISOString() : null;
      const key = await mutateKey(deps.db, c, id, 'api_key.rotate', async (tx) =>
        rotateKeySecret(tx, id, { keyHash: await hashToken(raw), prefix: tokenDisplayPrefix(raw), previousExpiresAt: overlapEnds }),
      );
      return c.json({ ...presentKey(key), key: raw });
    })
    .post('/:id/revoke', async (c) => {
      const id = pathUuid(c, 'id', 'API key');
      // Revoking a revoked key changes nothing: it answers the key as it is and writes no audit row.
      const key = await deps.db.transaction(async (tx) => {
        const before = await changeableKey(tx, c.get('principal'), id);
        if (before.status === 'revoked') return before;
        const after = await revokeKey(tx, id);
        await writeAudit(tx, actorOf(c), { action: 'api_key.revoke', targetType: 'api_key', targetId: id, orgId: before.org_id, before: presentKey(before), after: presentKey(after) });
        await bumpManifestVersion(tx);
        return after;
      });
      return c.json(presentKey(key));
    });
}
