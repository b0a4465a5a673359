// /v1/manage/orgs/:id/suspend and /unsuspend (platform staff). A suspended org's keys stop at
// every edge (403 org_suspended) as soon as the manifest with its new status arrives; nothing
// else about the org changes, so unsuspending restores it as it was.

import { Hono, type Context } from 'hono';
import { ApiError } from '../../shared/errors.ts';
import type { ApiSpec } from '../api-spec.ts';
import { writeAudit } from '../audit.ts';
import { canSeeOrg } from '../authz.ts';
import { requireCatalog } from '../catalog-access.ts';
import type { Database } from '../db.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { bumpManifestVersion } from '../sql/manifest.ts';
import { lockOrg, setOrgStatus } from '../sql/org-suspension.ts';
import type { OrgRow } from '../sql/orgs.ts';
import { pathUuid } from '../validation.ts';

export const orgSuspensionSpecs: ApiSpec[] = [
  { method: 'post', path: '/v1/manage/orgs/:id/suspend', summary: "Suspend an org: its keys are refused at every edge (platform staff; idempotent)", tag: 'orgs', access: 'admin', success: { status: 200, description: 'The org' } },
  { method: 'post', path: '/v1/manage/orgs/:id/unsuspend', summary: 'Lift a suspension (platform staff; idempotent)', tag: 'orgs', access: 'admin', success: { status: 200, description: 'The org' } },
];

function present(org: OrgRow) {
  return { object: 'org' as const, id: org.id, name: org.name, status: org.status, created_at: org.created_at.toISOString() };
}

async function setStatus(c: Context<AppEnv>, db: Database, status: OrgRow['status']) {
  const principal = c.get('principal');
  const id = pathUuid(c, 'id', 'org');
  // An org the caller cannot see is missing to them (404); one they belong to, but may not suspend, is 403.
  if (!canSeeOrg(principal, id)) throw new ApiError('not_found', 'No such org.');
  requireCatalog(principal, 'operate');
  const org = await db.transaction(async (tx) => {
    const current = await lockOrg(tx, id);
    if (!current) throw new ApiError('not_found', 'No such org.');
    // Already in that state: nothing changes, so no audit row and no new manifest.
    if (current.status === status) return current;
    const updated = await setOrgStatus(tx, id, status);
    await writeAudit(tx, actorOf(c), { action: status === 'suspended' ? 'org.suspend' : 'org.unsuspend', targetType: 'org', targetId: id, orgId: id, before: present(current), after: present(updated) });
    await bumpManifestVersion(tx);
    return updated;
  });
  return c.json(present(org));
}

export function orgSuspensionRoutes(deps: { db: Database }) {
  return new Hono<AppEnv>()
    .post('/:id/suspend', (c) => setStatus(c, deps.db, 'suspended'))
    .post('/:id/unsuspend', (c) => setStatus(c, deps.db, 'active'));
}
