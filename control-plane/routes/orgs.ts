// /v1/manage/orgs: create (platform staff), list and read (what the caller may see).

import { Hono } from 'hono';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import { uuidv7 } from '../../shared/ids.ts';
import { writeAudit } from '../audit.ts';
import { canSeeOrg, isPlatformStaff } from '../authz.ts';
import type { ApiSpec } from '../api-spec.ts';
import type { Database } from '../db.ts';
import { PageQuery, toPage } from '../pagination.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { bumpManifestVersion } from '../sql/manifest.ts';
import { findOrg, insertOrg, listOrgs, type OrgRow } from '../sql/orgs.ts';
import { parseJsonBody, parseQuery, pathUuid } from '../validation.ts';

export const CreateOrg = z.strictObject({ name: z.string().trim().min(1).max(200) });

export const orgSpecs: ApiSpec[] = [
  { method: 'post', path: '/v1/manage/orgs', summary: 'Create an org (platform staff)', tag: 'orgs', access: 'admin', body: CreateOrg, success: { status: 201, description: 'The org' } },
  { method: 'get', path: '/v1/manage/orgs', summary: 'List the orgs the caller may see', tag: 'orgs', access: 'admin', query: PageQuery, success: { status: 200, description: 'A page of orgs' } },
  { method: 'get', path: '/v1/manage/orgs/:id', summary: 'Read an org', tag: 'orgs', access: 'admin', success: { status: 200, description: 'The org' } },
];

function present(org: OrgRow) {
  return { object: 'org' as const, id: org.id, name: org.name, status: org.status, created_at: org.created_at.toISOString() };
}

export function orgRoutes(deps: { db: Database; now: () => Date }) {
  return new Hono<AppEnv>()
    .post('/', async (c) => {
      const body = await parseJsonBody(c, CreateOrg);
      if (!isPlatformStaff(c.get('principal'))) throw new ApiError('forbidden', 'Only platform administrators create orgs.');
      const org = await deps.db.transaction(async (tx) => {
        const created = await insertOrg(tx, { id: uuidv7(deps.now().getTime()), name: body.name });
        await writeAudit(tx, actorOf(c), {
          action: 'org.create',
          targetType: 'org',
          targetId: created.id,
          orgId: created.id,
          after: present(created),
        });
        await bumpManifestVersion(tx);
        return created;
      });
      return c.json(present(org), 201);
    })
    .get('/', async (c) => {
      const query = parseQuery(c, PageQuery);
      const principal = c.get('principal');
      const rows = await listOrgs(deps.db, {
        onlyIds: isPlatformStaff(principal) ? null : [...principal.orgRoles.keys()],
        after: query.after ?? null,
        limit: query.limit + 1,
      });
      return c.json(toPage(rows, query.limit, present));
    })
    .get('/:id', async (c) => {
      const id = pathUuid(c, 'id', 'org');
      const org = canSeeOrg(c.get('principal'), id) ? await findOrg(deps.db, id) : null;
      if (!org) throw new ApiError('not_found', 'No such org.');
      return c.json(present(org));
    });
}
