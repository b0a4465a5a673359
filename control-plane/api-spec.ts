// The description of every public route, next to the schemas its handler validates with: the
// OpenAPI document is generated from these, and tests check that the app's own route list and
// this list agree (a route cannot ship undocumented).

import { z } from 'zod';

export type Access = 'admin' | 'node' | 'public';
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface ApiSpec {
  method: Method;
  /** Full Hono path, e.g. `/v1/manage/keys/:id`. */
  path: string;
  summary: string;
  tag: string;
  access: Access;
  /** The very schema the handler parses the JSON body with. */
  body?: z.ZodType;
  /** The very schema the handler parses the query string with. */
  query?: z.ZodType;
  /** Success status and what it answers. */
  success: { status: 200 | 201 | 204 | 304; description: string };
}

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['message', 'type', 'code', 'param', 'request_id'],
      properties: {
        message: { type: 'string' },
        type: { type: 'string' },
        code: { type: 'string' },
        param: { type: ['string', 'null'] },
        request_id: { type: ['string', 'null'] },
      },
    },
  },
};

export function openApiDocument(specs: readonly ApiSpec[], info: { title: string; version: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of specs) {
    const openApiPath = spec.path.replace(/:(\w+)/g, '{$1}');
    const pathParams = [...spec.path.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const queryParams = spec.query ? queryParameters(spec.query) : [];
    (paths[openApiPath] ??= {})[spec.method] = {
      summary: spec.summary,
      tags: [spec.tag],
      security: spec.access === 'public' ? [] : [{ [spec.access === 'admin' ? 'managementToken' : 'nodeToken']: [] }],
      parameters: [...pathParams, ...queryParams],
      ...(spec.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(spec.body) } } } } : {}),
      responses: {
        [spec.success.status]: { description: spec.success.description },
        default: { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info,
    paths,
    components: {
      schemas: { Error: ERROR_SCHEMA },
      securitySchemes: {
        managementToken: { type: 'http', scheme: 'bearer', description: 'A `tpat_` management token.' },
        nodeToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A token signed by a registered edge node.' },
      },
    },
  };
}

function queryParameters(schema: z.ZodType) {
  const object = jsonSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name,
    in: 'query',
    required: object.required?.includes(name) ?? false,
    schema: property,
  }));
}
