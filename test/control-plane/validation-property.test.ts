// Property: no request to any documented route, however malformed, gets a 500 or an answer
// outside the documented error shape. Walks the app's own spec list, so new routes are covered.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ERRORS, type ErrorCode } from '../../shared/errors.ts';
import { API_SPECS } from '../../control-plane/routes/all-specs.ts';
import type { ApiSpec } from '../../control-plane/api-spec.ts';
import { createHarness, type Harness } from '../support/control-plane.ts';

let h: Harness;
let orgId: string;

beforeAll(async () => {
  h = await createHarness();
  orgId = ((await (await h.request('POST', '/v1/manage/orgs', { token: h.ownerToken, body: { name: 'Props' } })).json()) as { id: string }).id;
}, 60_000);
afterAll(() => h?.close());

/** Field names the route's schema knows: random values under real names reach deeper than noise. */
function fieldNames(schema: z.ZodType | undefined): string[] {
  if (!schema) return [];
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, unknown> };
  return Object.keys(json.properties ?? {});
}

const idLike = fc.oneof(fc.uuid(), fc.constant('not-a-uuid'), fc.string({ maxLength: 40 }), fc.constant(''));

/** Text with control characters, NUL included, and lone surrogates: PostgreSQL can store neither. */
const controlText = fc.string({ unit: fc.constantFrom('a', ' ', '\u0000', '\u0001', '\n', '\u007f', 'é', '\ud800', '\udc00'), minLength: 1, maxLength: 12 });

/** Timestamps zod's ISO check accepts but PostgreSQL may not: the year 0000, and a year 10000 in UTC. */
const edgeTimestamps = fc.constantFrom('0000-01-01T00:00:00Z', '0001-01-01T00:00:00+01:00', '9999-12-31T23:59:59-01:00', '2099-01-01T00:00:00Z', '2030-01-01T00:00:00+20:00');

function bodies(spec: ApiSpec) {
  const names = fieldNames(spec.body);
  const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), controlText, edgeTimestamps);
  const known = names.length ? fc.dictionary(fc.constantFrom(...names), value, { maxKeys: names.length }) : fc.object();
  return fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    known.map((v) => JSON.stringify({ org_id: orgId, ...v })),
    fc.string({ maxLength: 60 }),
  );
}

function queries(spec: ApiSpec) {
  const names = [...fieldNames(spec.query), 'limit', 'after', 'org_id'];
  return fc.dictionary(fc.constantFrom(...names), fc.oneof(fc.string({ maxLength: 20 }), controlText, edgeTimestamps, fc.constant(orgId), fc.integer().map(String)), { maxKeys: 4 });
}

const adminSpecs = API_SPECS.filter((s) => s.access === 'admin');

describe('request validation never fails open', () => {
  it.each(adminSpecs.map((s) => [`${s.method.toUpperCase()} ${s.path}`, s] as const))('%s answers every input with a documented 4xx or a success', async (_name, spec) => {
    await fc.assert(
      fc.asyncProperty(fc.array(idLike, { minLength: 2, maxLength: 2 }), bodies(spec), queries(spec), async (ids, body, query) => {
        let n = 0;
        const path = spec.path.replace(/:\w+/g, () => encodeURIComponent(ids[n++] ?? ''));
        const search = new URLSearchParams(query).toString();
        const withBody = spec.method !== 'get' && spec.method !== 'delete';
        const res = await h.request(spec.method.toUpperCase(), `${path}${search ? `?${search}` : ''}`, {
          token: h.ownerToken,
          ...(withBody ? { body, headers: { 'content-type': 'application/json' } } : {}),
        });
        expect(res.status, `${spec.method} ${path} ${body}`).toBeLessThan(500);
        if (res.status >= 400) {
          const error = ((await res.json()) as { error: { code: ErrorCode; type: string; request_id: string } }).error;
          expect(ERRORS[error.code]?.status).toBe(res.status);
          expect(error.type).toBe(ERRORS[error.code].type);
          expect(error.request_id).toMatch(/^req_/);
        } else {
          await res.body?.cancel();
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('timestamps PostgreSQL cannot hold', () => {
  it('answers the year 0000 and offsets beyond ±15:59 with a 422 naming the field, not a 500', async () => {
    const cases: [string, string, string][] = [
      ['GET', `/v1/manage/audit?org_id=${orgId}&from=0000-01-01T00:00:00Z`, 'from'],
      ['GET', `/v1/manage/audit?org_id=${orgId}&to=0000-06-01T00:00:00Z`, 'to'],
      ['GET', `/v1/manage/audit?org_id=${orgId}&to=${encodeURIComponent('2030-01-01T00:00:00+20:00')}`, 'to'],
      ['GET', '/v1/manage/models/no-such-model/prices?after=0000-01-01T00:00:00Z', 'after'],
    ];
    for (const [method, path, param] of cases) {
      const res = await h.request(method, path, { token: h.ownerToken });
      expect(res.status, path).toBe(422);
      expect(((await res.json()) as { error: { param: string } }).error.param).toBe(param);
    }
    for (const expires_at of ['0000-01-01T00:00:00Z', '2030-01-01T00:00:00+20:00']) {
      const token = await h.request('POST', '/v1/manage/tokens', { token: h.ownerToken, body: { name: 't', expires_at } });
      expect(token.status, expires_at).toBe(422);
    }
    // Offsets PostgreSQL holds still pass.
    const fine = await h.request('POST', '/v1/manage/tokens', { token: h.ownerToken, body: { name: 't', expires_at: '2030-01-01T00:00:00+14:00' } });
    expect(fine.status).toBe(201);
  });
});
