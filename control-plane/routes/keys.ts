// /v1/manage/keys: create (the raw key is in this one response only), list, read, revoke.

import { Hono } from 'hono';
import { z } from 'zod';
import { generateToken, hashToken, tokenDisplayPrefix } from '../../shared/api-key.ts';
import { ApiError } from '../../shared/errors.ts';
import { uuidv7 } from '../../shared/ids.ts';
import { Region } from '../../shared/manifest.ts';
import type { Principal } from '../admin-auth.ts';
import { writeAudit } from '../audit.ts';
import { keyScope } from '../authz.ts';
import type { ApiSpec } from '../api-spec.ts';
import type { Database } from '../db.ts';
import { PageQuery, toPage } from '../pagination.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { findKey, insertKey, listKeys, revokeKey, type KeyRow } from '../sql/keys.ts';
import { bumpManifestVersion } from '../sql/manifest.ts';
import { parseJsonBody, parseQuery, pathUuid } from '../validation.ts';

const Names = z.array(z.string().min(1).max(200)).max(100);

// Strict: a policy field this version does not enforce yet (budgets, rate limits) is refused
// with a 422 instead of being silently accepted and ignored.
export const CreateKey = z.strictObject({
  name: z.string().trim().min(1).max(200),
  org_id: z.uuid().optional(),
  owner_user_id: z.uuid().optional(),
  allowed_models: Names.default([]),
  allowed_regions: z.array(Region).max(3).default([]),
  allowed_suppliers: Names.default([]),
  expires_at: z.iso.datetime({ offset: true }).optional(),
});

export const ListKeys = PageQuery.extend({ org_id: z.uuid().optional() });

export const keySpecs: ApiSpec[] = [
  { method: 'post', path: '/v1/manage/keys', summary: 'Create an API key; the raw key is in this response only', tag: 'keys', access: 'admin', body: CreateKey, success: { status: 201, description: 'The key, with `key` shown once' } },
  { method: 'get', path: '/v1/manage/keys', summary: 'List API keys of an org (prefix only)', tag: 'keys', access: 'admin', query: ListKeys, success: { status: 200, description: 'A page of keys' } },
  { method: 'get', path: '/v1/manage/keys/:id', summary: 'Read an API key (prefix only)', tag: 'keys', access: 'admin', success: { status: 200, description: 'The key' } },
  { method: 'post', path: '/v1/manage/keys/:id/revoke', summary: 'Revoke an API key (idempotent)', tag: 'keys', access: 'admin', success: { status: 200, description: 'The revoked key' } },
];

function present(key: KeyRow) {
  return {
    object: 'api_key' as const,
    id: key.id,
    org_id: key.org_id,
    owner_user_id: key.owner_user_id,
    name: key.name,
    prefix: key.prefix,
    allowed_models: key.allowed_models,
    allowed_regions: key.allowed_regions,
    allowed_suppliers: key.allowed_suppliers,
    status: key.status,
    created_at: key.created_at.toISOString(),
    expires_at: key.expires_at?.toISOString() ?? null,
    revoked_at: key.revoked_at?.toISOString() ?? null,
  };
}

/** The org a request addresses: the one named, or the caller's only org. */
function targetOrg(p: Principal, named: string | undefined): string {
  if (named) return named;
  if (p.orgRoles.size === 1) return [...p.orgRoles.keys()][0]!;
  throw new ApiError('validation_failed', "Invalid value for 'org_id': required when you belong to more than one org.", {
    param: 'org_id',
  });
}

/** A key the caller may manage, or the same 404 whether it is foreign or missing. */
async function visibleKey(db: Database, p: Principal, id: string): Promise<KeyRow> {
  const key = await findKey(db, id);
  const scope = key ? keyScope(p, key.org_id) : null;
  if (!key || !scope || (scope === 'own' && key.owner_user_id !== p.userId)) {
    throw new ApiError('not_found', 'No such API key.');
  }
  return key;
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
      if (scope === 'own' && owner !== principal.userId) {
        throw new ApiError('forbidden', 'You may create keys only for yourself.', { param: 'owner_user_id' });
      }
      if (body.expires_at && Date.parse(body.expires_at) <= deps.now().getTime()) {
        throw new ApiError('validation_failed', "Invalid value for 'expires_at': must be in the future.", { param: 'expires_at' });
      }
      const raw = generateToken('api_key');
      const row = await deps.db.transaction(async (tx) => {
        if (owner && owner !== principal.userId) {
          const member = await tx.query('SELECT 1 FROM org_members WHERE org_id = $1 AND user_id = $2', [orgId, owner]);
          if (member.rowCount === 0) {
            throw new ApiError('validation_failed', "Invalid value for 'owner_user_id': not a member of this org.", {
              param: 'owner_user_id',
            });
          }
        }
        const org = await tx.query('SELECT 1 FROM orgs WHERE id = $1', [orgId]);
        if (org.rowCount === 0) throw new ApiError('not_found', 'No such org.', { param: 'org_id' });
        const created = await insertKey(tx, {
          id: uuidv7(deps.now().getTime()),
          orgId,
          ownerUserId: owner,
          name: body.name,
          keyHash: await hashToken(raw),
          prefix: tokenDisplayPrefix(raw),
          allowedModels: body.allowed_models,
          allowedRegions: body.allowed_regions,
          allowedSuppliers: body.allowed_suppliers,
          expiresAt: body.expires_at ?? null,
        });
        await writeAudit(tx, actorOf(c), { action: 'api_key.create', targetType: 'api_key', targetId: created.id, orgId, after: present(created) });
        await bumpManifestVersion(tx);
        return created;
      });
      return c.json({ ...present(row), key: raw }, 201);
    })
    .get('/', async (c) => {
      const query = parseQuery(c, ListKeys);
      const principal = c.get('principal');
      const orgId = targetOrg(principal, query.org_id);
      const scope = keyScope(principal, orgId);
      if (!scope) throw new ApiError('not_found', 'No such org.', { param: 'org_id' });
      const rows = await listKeys(deps.db, {
        orgId,
        ownerUserId: scope === 'own' ? principal.userId : null,
        after: query.after ?? null,
        limit: query.limit + 1,
      });
      return c.json(toPage(rows, query.limit, present));
    })
    .get('/:id', async (c) => {
      const key = await visibleKey(deps.db, c.get('principal'), pathUuid(c, 'id', 'API key'));
      return c.json(present(key));
    })
    .post('/:id/revoke', async (c) => {
      const key = await visibleKey(deps.db, c.get('principal'), pathUuid(c, 'id', 'API key'));
      // Revoking a revoked key changes nothing, so it answers the key as it is and writes no audit row.
      if (key.status === 'revoked') return c.json(present(key));
      const revoked = await deps.db.transaction(async (tx) => {
        const locked = await findKey(tx, key.id, { forUpdate: true });
        if (!locked || locked.status === 'revoked') return locked!;
        const after = await revokeKey(tx, key.id);
        await writeAudit(tx, actorOf(c), {
          action: 'api_key.revoke',
          targetType: 'api_key',
          targetId: key.id,
          orgId: key.org_id,
          before: present(locked),
          after: present(after),
        });
        await bumpManifestVersion(tx);
        return after;
      });
      return c.json(present(revoked));
    });
}
