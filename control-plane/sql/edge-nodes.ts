// Queries on registered edge nodes and their public keys.

import type { JWK } from 'jose';
import type { Queryable } from '../db.ts';

export type EdgeNodeRow = {
  id: string;
  name: string;
  public_key_jwk: JWK;
  /** X25519 public JWK that credentials are sealed to; null: this node gets none. */
  encryption_jwk: JWK | null;
  status: 'active' | 'disabled';
  created_at: Date;
};

const COLUMNS = 'id, name, public_key_jwk, encryption_jwk, status, created_at';

export async function insertEdgeNode(
  db: Queryable,
  node: { id: string; name: string; publicKeyJwk: JWK; encryptionJwk: JWK | null },
): Promise<EdgeNodeRow> {
  const { rows } = await db.query<EdgeNodeRow>(
    `INSERT INTO edge_nodes (id, name, public_key_jwk, encryption_jwk) VALUES ($1, $2, $3, $4)
     RETURNING ${COLUMNS}`,
    [node.id, node.name, JSON.stringify(node.publicKeyJwk), node.encryptionJwk === null ? null : JSON.stringify(node.encryptionJwk)],
  );
  return rows[0]!;
}

/** `forUpdate`: row-locked until the transaction ends (a status change). */
export async function findEdgeNode(db: Queryable, id: string, options: { forUpdate?: boolean } = {}): Promise<EdgeNodeRow | null> {
  const { rows } = await db.query<EdgeNodeRow>(`SELECT ${COLUMNS} FROM edge_nodes WHERE id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return rows[0] ?? null;
}

/** Sets a node's status; the node API refuses a disabled node's next call (node-api.ts). */
export async function setEdgeNodeStatus(db: Queryable, id: string, status: EdgeNodeRow['status']): Promise<EdgeNodeRow> {
  const { rows } = await db.query<EdgeNodeRow>(
    `UPDATE edge_nodes SET status = $2 WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, status],
  );
  return rows[0]!;
}
