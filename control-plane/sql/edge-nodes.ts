// Queries on registered edge nodes and their public keys.

import type { JWK } from 'jose';
import type { Queryable } from '../db.ts';

export type EdgeNodeRow = {
  id: string;
  name: string;
  public_key_jwk: JWK;
  status: 'active' | 'disabled';
  created_at: Date;
};

export async function insertEdgeNode(
  db: Queryable,
  node: { id: string; name: string; publicKeyJwk: JWK },
): Promise<EdgeNodeRow> {
  const { rows } = await db.query<EdgeNodeRow>(
    `INSERT INTO edge_nodes (id, name, public_key_jwk) VALUES ($1, $2, $3)
     RETURNING id, name, public_key_jwk, status, created_at`,
    [node.id, node.name, JSON.stringify(node.publicKeyJwk)],
  );
  return rows[0]!;
}

export async function findEdgeNode(db: Queryable, id: string): Promise<EdgeNodeRow | null> {
  const { rows } = await db.query<EdgeNodeRow>(
    'SELECT id, name, public_key_jwk, status, created_at FROM edge_nodes WHERE id = $1',
    [id],
  );
  return rows[0] ?? null;
}
