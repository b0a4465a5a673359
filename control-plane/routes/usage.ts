// /v1/manage/usage: what was used and what it cost, from the daily rollup — per UTC day (grouped
// by key, user, model, supplier or region if asked), per org and month, and one request by its id.
// Reading changes nothing, so no audit row. Money: USD numbers plus the exact `*_micros` integers.

import type { Context } from 'hono';
import { Hono } from 'hono';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import { isStorableText } from '../../shared/storable-text.ts';
import { Region } from '../../shared/manifest.ts';
import { formatUsd, microsToUsd } from '../../shared/money.ts';
import type { Principal } from '../admin-auth.ts';
import type { ApiSpec } from '../api-spec.ts';
import { canSeeOrg, isPlatformStaff } from '../authz.ts';
import { toCsv, type CsvCell } from '../csv.ts';
import type { Database } from '../db.ts';
import type { AppEnv } from '../request-context.ts';
import {
  DIMENSION_COLUMNS,
  DIMENSIONS,
  findUsageByRequestId,
  listUsageBuckets,
  listUsageMonths,
  type UsageDimension,
  type UsageEventRow,
  type UsageScope,
  type UsageTotals,
} from '../sql/usage-query.ts';
import { parseQuery } from '../validation.ts';

/** The longest day range one query may span (a year, leap day included). */
export const MAX_RANGE_DAYS = 366;
/** The longest month range of the summaries: the usage retention (PRODUCT.md §6). */
export const MAX_RANGE_MONTHS = 24;
const DEFAULT_RANGE_DAYS = 30;
const DAY_MS = 86_400_000;

const realDay = (s: string) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s);
// Years 1900–2999: wide enough for any usage, narrow enough that defaults and ranges computed
// from them stay ordinary four-digit dates.
const Day = z.string().regex(/^(19|2\d)\d{2}-\d{2}-\d{2}$/, 'must be a UTC day, YYYY-MM-DD').refine(realDay, 'must be a real calendar day');
const Month = z.string().regex(/^(19|2\d)\d{2}-(0[1-9]|1[0-2])$/, 'must be a month, YYYY-MM');
const Limit = z.coerce.number().int().min(1).max(1000).default(100);
const Cursor = z.string().max(2000);

const GroupBy = z
  .string()
  .max(100)
  .transform((value, ctx) => {
    const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
    const unknown = names.find((n) => !(DIMENSIONS as readonly string[]).includes(n));
    if (unknown !== undefined) {
      ctx.addIssue({ code: 'custom', message: `unknown dimension '${unknown}'; use any of ${DIMENSIONS.join(', ')}` });
      return z.NEVER;
    }
    return [...new Set(names)] as UsageDimension[];
  });

export const UsageQuery = z.object({
  org_id: z.uuid().optional(),
  key_id: z.uuid().optional(),
  user_id: z.uuid().optional(),
  model: z.string().min(1).max(200).optional(),
  supplier_id: z.string().min(1).max(100).optional(),
  region: Region.optional(),
  /** First UTC day, inclusive; default: 29 days before `to`. */
  from: Day.optional(),
  /** Last UTC day, inclusive; default: 29 days after `from`, or today. */
  to: Day.optional(),
  /** Comma-separated: key, user, model, supplier, region. Always grouped by day too. */
  group_by: GroupBy.optional(),
  limit: Limit,
  after: Cursor.optional(),
  format: z.enum(['json', 'csv']).default('json'),
});

export const MonthlyQuery = z.object({
  org_id: z.uuid().optional(),
  /** First month, inclusive; default: 11 months before `to`. */
  from: Month.optional(),
  /** Last month, inclusive; default: this month. */
  to: Month.optional(),
  limit: Limit,
  after: Cursor.optional(),
  format: z.enum(['json', 'csv']).default('json'),
});

export const usageSpecs: ApiSpec[] = [
  {
    method: 'get',
    path: '/v1/manage/usage',
    summary: 'Usage and cost per UTC day, filtered and optionally grouped by key, user, model, supplier, region; JSON or CSV',
    tag: 'usage',
    access: 'admin',
    query: UsageQuery,
    success: { status: 200, description: 'A page of usage buckets; with format=csv a CSV attachment whose next cursor is in X-Next-Cursor' },
  },
  {
    method: 'get',
    path: '/v1/manage/usage/monthly',
    summary: 'Usage and cost per org and calendar month (UTC); JSON or CSV',
    tag: 'usage',
    access: 'admin',
    query: MonthlyQuery,
    success: { status: 200, description: 'A page of monthly summaries' },
  },
  {
    method: 'get',
    path: '/v1/manage/usage/requests/:request_id',
    summary: 'The usage row of one request, by the request id the edge answered in x-request-id',
    tag: 'usage',
    access: 'admin',
    success: { status: 200, description: 'The usage event' },
  },
];

/**
 * Whose usage a principal reads (PRODUCT.md §3): platform staff every org's, org owners and
 * admins their orgs', a plain member only that of the keys they own. Null: the caller cannot see
 * that org, which answers 404 like a missing one.
 */
export function usageScope(p: Principal, orgId: string | undefined): UsageScope | null {
  if (isPlatformStaff(p)) return { fullOrgIds: orgId === undefined ? null : [orgId], ownOrgIds: [], userId: p.userId };
  if (orgId !== undefined && !canSeeOrg(p, orgId)) return null;
  const memberships = [...p.orgRoles].filter(([id]) => orgId === undefined || id === orgId);
  return {
    fullOrgIds: memberships.filter(([, role]) => role === 'org_owner' || role === 'org_admin').map(([id]) => id),
    ownOrgIds: memberships.filter(([, role]) => role === 'user').map(([id]) => id),
    userId: p.userId,
  };
}

function scopeOf(c: Context<AppEnv>, orgId: string | undefined): UsageScope {
  const scope = usageScope(c.get('principal'), orgId);
  if (!scope) throw new ApiError('not_found', 'No such org.', { param: 'org_id' });
  return scope;
}

const invalid = (param: string, message: string) => new ApiError('validation_failed', `Invalid value for '${param}': ${message}`, { param });

/** The inclusive day range asked for, defaulted from today, at most MAX_RANGE_DAYS long. */
export function dayRange(q: { from?: string | undefined; to?: string | undefined }, now: Date): { from: string; to: string } {
  const today = now.toISOString().slice(0, 10);
  const to = q.to ?? (q.from !== undefined ? addDays(q.from, DEFAULT_RANGE_DAYS - 1) : today);
  const from = q.from ?? addDays(to, -(DEFAULT_RANGE_DAYS - 1));
  if (from > to) throw invalid('from', 'must not be after to');
  if (daysBetween(from, to) + 1 > MAX_RANGE_DAYS) throw invalid('to', `a range may span at most ${MAX_RANGE_DAYS} days`);
  return { from, to };
}

/** The month range as days: first day of `from`, first day after `to`. */
export function monthRange(q: { from?: string | undefined; to?: string | undefined }, now: Date): { fromDay: string; toDayExclusive: string } {
  const to = q.to ?? now.toISOString().slice(0, 7);
  const from = q.from ?? addMonths(to, -11);
  if (from > to) throw invalid('from', 'must not be after to');
  if (monthsBetween(from, to) + 1 > MAX_RANGE_MONTHS) throw invalid('to', `a range may span at most ${MAX_RANGE_MONTHS} months`);
  return { fromDay: `${from}-01`, toDayExclusive: `${addMonths(to, 1)}-01` };
}

const addDays = (day: string, n: number) => new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
const daysBetween = (a: string, b: string) => Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / DAY_MS);
function addMonths(month: string, n: number): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(y, m - 1 + n, 1)).toISOString().slice(0, 7);
}
const monthsBetween = (a: string, b: string) => {
  const [ya, ma] = a.split('-').map(Number) as [number, number];
  const [yb, mb] = b.split('-').map(Number) as [number, number];
  return (yb - ya) * 12 + (mb - ma);
};

// Cursors are opaque to clients: base64url of the JSON sort key of the last row of a page.
const encodeCursor = (key: readonly (string | null)[]) => Buffer.from(JSON.stringify(key)).toString('base64url');

function decodeCursor(cursor: string, check: (key: unknown[]) => boolean): string[] {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = null;
  }
  // Text PostgreSQL cannot store cannot be compared there: a forged cursor holding it is as invalid as any.
  if (!Array.isArray(key) || !key.every((k) => typeof k === 'string' && k.length <= 200 && isStorableText(k)) || !check(key)) {
    throw invalid('after', 'must be a next_cursor of the same query');
  }
  return key as string[];
}

const METRICS = [
  'requests', 'errors', 'input_tokens', 'output_tokens', 'cached_input_tokens', 'cache_write_tokens', 'reasoning_tokens',
  'audio_seconds', 'cost', 'cost_micros', 'estimated_requests', 'unpriced_requests',
] as const;

function metrics(t: UsageTotals) {
  const micros = Number(t.cost_micros);
  return {
    requests: Number(t.requests),
    errors: Number(t.errors),
    input_tokens: Number(t.input_tokens),
    output_tokens: Number(t.output_tokens),
    cached_input_tokens: Number(t.cached_input_tokens),
    cache_write_tokens: Number(t.cache_write_tokens),
    reasoning_tokens: Number(t.reasoning_tokens),
    audio_seconds: Number(t.audio_seconds),
    cost: microsToUsd(micros),
    cost_micros: micros,
    estimated_requests: Number(t.estimated_requests),
    unpriced_requests: Number(t.unpriced_requests),
  };
}

/** CSV cells of the metrics: the cost as its exact decimal text, never a float. */
function metricCells(t: UsageTotals): CsvCell[] {
  const m = metrics(t);
  return METRICS.map((name) => (name === 'cost' ? formatUsd(m.cost_micros) : m[name]));
}

function csvResponse(c: Context<AppEnv>, filename: string, header: readonly string[], rows: CsvCell[][], nextCursor: string | null): Response {
  c.header('content-type', 'text/csv; charset=utf-8');
  c.header('content-disposition', `attachment; filename="${filename}"`);
  if (nextCursor !== null) c.header('x-next-cursor', nextCursor);
  return c.body(toCsv(header, rows, { formulaSafe: true }));
}

function presentEvent(r: UsageEventRow) {
  const micros = Number(r.cost_micros);
  const { cost_micros: _raw, audio_seconds, started_at, received_at, ...rest } = r;
  return {
    object: 'usage_event' as const,
    ...rest,
    audio_seconds: Number(audio_seconds),
    cost: microsToUsd(micros),
    cost_micros: micros,
    started_at: started_at.toISOString(),
    received_at: received_at.toISOString(),
  };
}

export function usageRoutes(deps: { db: Database; now: () => Date }) {
  return new Hono<AppEnv>()
    .get('/', async (c) => {
      const q = parseQuery(c, UsageQuery);
      const scope = scopeOf(c, q.org_id);
      const groupBy = DIMENSIONS.filter((d) => q.group_by?.includes(d));
      const after = q.after === undefined ? null : decodeCursor(q.after, (k) => k.length === groupBy.length + 1 && Day.safeParse(k[0]).success);
      const rows = await listUsageBuckets(deps.db, {
        scope,
        filter: {
          keyId: q.key_id ?? null,
          userId: q.user_id ?? null,
          model: q.model ?? null,
          supplierId: q.supplier_id ?? null,
          region: q.region ?? null,
          ...dayRange(q, deps.now()),
        },
        groupBy,
        after,
        limit: q.limit + 1,
      });
      const page = rows.slice(0, q.limit);
      const columns = groupBy.map((d) => DIMENSION_COLUMNS[d]);
      const last = page[page.length - 1];
      const nextCursor = rows.length > q.limit && last ? encodeCursor([last.day, ...columns.map((col) => last[col] ?? '')]) : null;
      if (q.format === 'csv') {
        const cells = page.map((r) => [r.day, ...columns.map((col) => r[col] ?? null), ...metricCells(r)]);
        return csvResponse(c, 'usage.csv', ['day', ...columns, ...METRICS], cells, nextCursor);
      }
      const data = page.map((r) => ({ object: 'usage_bucket' as const, day: r.day, ...Object.fromEntries(columns.map((col) => [col, r[col] ?? null])), ...metrics(r) }));
      return c.json({ object: 'list' as const, data, next_cursor: nextCursor });
    })
    .get('/monthly', async (c) => {
      const q = parseQuery(c, MonthlyQuery);
      const scope = scopeOf(c, q.org_id);
      const after = q.after === undefined ? null : decodeCursor(q.after, (k) => k.length === 2 && Month.safeParse(k[0]).success && z.uuid().safeParse(k[1]).success);
      const rows = await listUsageMonths(deps.db, { scope, ...monthRange(q, deps.now()), after: after as [string, string] | null, limit: q.limit + 1 });
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      const nextCursor = rows.length > q.limit && last ? encodeCursor([last.month, last.org_id]) : null;
      if (q.format === 'csv') {
        return csvResponse(c, 'usage-monthly.csv', ['month', 'org_id', ...METRICS], page.map((r) => [r.month, r.org_id, ...metricCells(r)]), nextCursor);
      }
      const data = page.map((r) => ({ object: 'usage_month' as const, month: r.month, org_id: r.org_id, ...metrics(r) }));
      return c.json({ object: 'list' as const, data, next_cursor: nextCursor });
    })
    .get('/requests/:request_id', async (c) => {
      const requestId = c.req.param('request_id');
      // Request ids are short printable tokens; anything else names nothing.
      if (!/^[\x21-\x7e]{1,64}$/.test(requestId)) throw new ApiError('not_found', 'No such request.');
      const row = await findUsageByRequestId(deps.db, scopeOf(c, undefined), requestId);
      if (!row) throw new ApiError('not_found', 'No such request.');
      return c.json(presentEvent(row));
    });
}
