// /v1/manage/edge-nodes: register an edge node's Ed25519 public key, and optionally its X25519
// encryption key for sealed credentials; disable a node and enable it again (platform owner only).

import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { ApiError } from '../../shared/errors.ts';
import { NODE_ID } from '../../shared/node-token.ts';
import { writeAudit } from '../audit.ts';
import { isPlatformOwner } from '../authz.ts';
import type { ApiSpec } from '../api-spec.ts';
import type { Database } from '../db.ts';
import { actorOf, type AppEnv } from '../request-context.ts';
import { findEdgeNode, insertEdgeNode, setEdgeNodeStatus, type EdgeNodeRow } from '../sql/edge-nodes.ts';
import { parseJsonBody } from '../validation.ts';

// A public key only: a JWK carrying the private part `d` is refused, so a secret never lands here.
const PublicEd25519Jwk = z.strictObject({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url Ed25519 public key'),
  kid: z.string().max(128).optional(),
  alg: z.literal('EdDSA').optional(),
  use: z.literal('sig').optional(),
});

// The node's encryption key (ECDH-ES): credentials are sealed to it. Public part only, as above.
const PublicX25519Jwk = z.strictObject({
  kty: z.literal('OKP'),
  crv: z.literal('X25519'),
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url X25519 public key'),
  kid: z.string().max(128).optional(),
  alg: z.enum(['ECDH-ES', 'ECDH-ES+A256KW']).optional(),
  use: z.literal('enc').optional(),
});

export const RegisterNode = z.strictObject({
  id: z.string().regex(NODE_ID, 'lower-case letters, digits, _ and -; at most 64'),
  name: z.string().max(200).default(''),
  public_key_jwk: PublicEd25519Jwk,
  encryption_jwk: PublicX25519Jwk.optional(),
});

export const edgeNodeSpecs: ApiSpec[] = [
  { method: 'post', path: '/v1/manage/edge-nodes', summary: "Register an edge node's Ed25519 public key (platform owner)", tag: 'edge nodes', access: 'admin', body: RegisterNode, success: { status: 201, description: 'The node' } },
  { method: 'post', path: '/v1/manage/edge-nodes/:id/disable', summary: 'Cut a node off: its next node-API call is refused (platform owner; idempotent)', tag: 'edge nodes', access: 'admin', success: { status: 200, description: 'The node' } },
  { method: 'post', path: '/v1/manage/edge-nodes/:id/enable', summary: 'Let a disabled node call the node API again (platform owner; idempotent)', tag: 'edge nodes', access: 'admin', success: { status: 200, description: 'The node' } },
];

function present(node: EdgeNodeRow) {
  return {
    object: 'edge_node' as const,
    id: node.id,
    name: node.name,
    status: node.status,
    public_key_jwk: node.public_key_jwk,
    // Public, and what provider credentials are sealed to: the audit row must say which key.
    encryption_jwk: node.encryption_jwk,
    created_at: node.created_at.toISOString(),
  };
}

/**
 * Disable or enable a node (a lost or compromised machine): the node API checks the node's status
 * on every call, so a disabled node's next call is refused. Its leases lapse 30 s after their last
 * extension and release what they held; its undelivered usage waits in its outbox until it is
 * enabled again. Setting the status it has changes nothing and writes no audit row.
 */
function statusRoute(deps: { db: Database }, status: EdgeNodeRow['status']) {
  return async (c: Context<AppEnv>) => {
    if (!isPlatformOwner(c.get('principal'))) throw new ApiError('forbidden', 'Only the platform owner manages edge nodes.');
    const id = c.req.param('id') ?? '';
    if (!NODE_ID.test(id)) throw new ApiError('not_found', 'No such edge node.');
    const node = await deps.db.transaction(async (tx) => {
      const before = await findEdgeNode(tx, id, { forUpdate: true });
      if (!before) throw new ApiError('not_found', 'No such edge node.');
      if (before.status === status) return before;
      const after = await setEdgeNodeStatus(tx, id, status);
      await writeAudit(tx, actorOf(c), { action: `edge_node.${status === 'disabled' ? 'disable' : 'enable'}`, targetType: 'edge_node', targetId: id, orgId: null, before: present(before), after: present(after) });
      return after;
    });
    return c.json(present(node));
  };
}

export function edgeNodeRoutes(deps: { db: Database }) {
  return new Hono<AppEnv>()
    .post('/:id/disable', statusRoute(deps, 'disabled'))
    .post('/:id/enable', statusRoute(deps, 'active'))
    .post('/', async (c) => {
    const body = await parseJsonBody(c, RegisterNode);
    if (!isPlatformOwner(c.get('principal'))) throw new ApiError('forbidden', 'Only the platform owner registers edge nodes.');
    const node = await deps.db.transaction(async (tx) => {
      if (await findEdgeNode(tx, body.id)) throw new ApiError('conflict', `Edge node '${body.id}' is already registered.`, { param: 'id' });
      const created = await insertEdgeNode(tx, { id: body.id, name: body.name, publicKeyJwk: body.public_key_jwk, encryptionJwk: body.encryption_jwk ?? null });
      await writeAudit(tx, actorOf(c), { action: 'edge_node.register', targetType: 'edge_node', targetId: created.id, orgId: null, after: present(created) });
      return created;
    });
    return c.json(present(node), 201);
  });
}
