// /v1/manage/audit: the audit log export, as JSON pages or CSV, in chain (seq) order. Reading the
// log changes nothing, so it writes no audit row.

import type { Context } from 'hono';
import { Hono } from 'hono';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import type { ApiSpec } from '../api-spec.ts';
import { auditScope } from '../audit-scope.ts';
import { toCsv, type CsvCell } from '../csv.ts';
import type { Database } from '../db.ts';
import type { AppEnv } from '../request-context.ts';
import { listAuditRows, type AuditRow } from '../sql/audit.ts';
import { parseQuery } from '../validation.ts';
import { isoTimestamp } from '../../shared/timestamp.ts';

const Text = z.string().min(1).max(200);

export const ListAudit = z.object({
  org_id: z.uuid().optional(),
  actor_user_id: z.uuid().optional(),
  action: Text.optional(),
  target_type: Text.optional(),
  target_id: Text.optional(),
  /** Inclusive. */
  from: isoTimestamp({ offset: true }).optional(),
  /** Exclusive. */
  to: isoTimestamp({ offset: true }).optional(),
  // Larger pages than other lists: this is an export, and rows are small.
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  /** The seq of the last row already read (next_cursor). */
  after: z.string().regex(/^\d{1,18}$/, 'must be a next_cursor value').optional(),
  format: z.enum(['json', 'csv']).default('json'),
});

export const auditSpecs: ApiSpec[] = [
  {
    method: 'get',
    path: '/v1/manage/audit',
    summary: 'Export the audit log as JSON or CSV, filtered, in chain order',
    tag: 'audit',
    access: 'admin',
    query: ListAudit,
    success: { status: 200, description: 'A page of audit events; with format=csv a CSV attachment whose next cursor is in X-Next-Cursor' },
  },
];

const CSV_COLUMNS = [
  'seq', 'id', 'at', 'org_id', 'actor_user_id', 'actor_token_id', 'action', 'target_type', 'target_id',
  'before', 'after', 'request_id', 'client_addr', 'prev_hash', 'row_hash',
] as const satisfies readonly (keyof AuditRow)[];

function present(row: AuditRow) {
  return { object: 'audit_event' as const, ...row, seq: Number(row.seq), id: Number(row.id) };
}

function csvCells(row: AuditRow): CsvCell[] {
  return CSV_COLUMNS.map((column) => {
    const value = row[column];
    if (column === 'before' || column === 'after') return value === null ? null : JSON.stringify(value);
    return value as string | null;
  });
}

function csvResponse(c: Context<AppEnv>, rows: AuditRow[], nextCursor: string | null): Response {
  c.header('content-type', 'text/csv; charset=utf-8');
  c.header('content-disposition', 'attachment; filename="audit-log.csv"');
  if (nextCursor !== null) c.header('x-next-cursor', nextCursor);
  return c.body(toCsv(CSV_COLUMNS, rows.map(csvCells)));
}

export function auditRoutes(deps: { db: Database }) {
  return new Hono<AppEnv>().get('/', async (c) => {
    const query = parseQuery(c, ListAudit);
    const scope = auditScope(c.get('principal'), query.org_id);
    if (!scope.ok && scope.denial === 'not_found') throw new ApiError('not_found', 'No such org.', { param: 'org_id' });
    if (!scope.ok) throw new ApiError('forbidden', 'Only platform staff and org owners and admins may read the audit log.');
    const rows = await listAuditRows(deps.db, {
      orgIds: scope.orgIds,
      actorUserId: query.actor_user_id ?? null,
      action: query.action ?? null,
      targetType: query.target_type ?? null,
      targetId: query.target_id ?? null,
      from: query.from ?? null,
      to: query.to ?? null,
      afterSeq: query.after ?? null,
      limit: query.limit + 1,
    });
    // limit + 1 rows were asked for: the extra one only tells whether another page exists.
    const page = rows.slice(0, query.limit);
    const nextCursor = rows.length > query.limit ? page[page.length - 1]!.seq : null;
    if (query.format === 'csv') return csvResponse(c, page, nextCursor);
    return c.json({ object: 'list' as const, data: page.map(present), next_cursor: nextCursor });
  });
}
