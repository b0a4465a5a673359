// Queries on model routes: which supplier serves a public model, under which upstream name,
// in which priority (lower first), optionally pinned to one of the supplier's credentials.

import type { Queryable } from '../db.ts';

export type ModelRouteRow = {
  id: string;
  model_id: string;
  supplier_id: string;
  upstream_model: string;
  priority: number;
  credential_id: string | null;
  status: 'active' | 'disabled';
  created_at: Date;
};

type RouteFields = Pick<ModelRouteRow, 'upstream_model' | 'priority' | 'credential_id' | 'status'>;

const COLUMNS = 'id, model_id, supplier_id, upstream_model, priority, credential_id, status, created_at';

/** null when the model already has this (supplier, upstream model) route (the caller answers 409). */
export async function insertModelRoute(
  db: Queryable,
  r: RouteFields & { id: string; model_id: string; supplier_id: string },
): Promise<ModelRouteRow | null> {
  const { rows } = await db.query<ModelRouteRow>(
    `INSERT INTO model_routes (id, model_id, supplier_id, upstream_model, priority, credential_id, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (model_id, supplier_id, upstream_model) DO NOTHING RETURNING ${COLUMNS}`,
    [r.id, r.model_id, r.supplier_id, r.upstream_model, r.priority, r.credential_id, r.status],
  );
  return rows[0] ?? null;
}

export async function findModelRoute(db: Queryable, id: string, options: { forUpdate?: boolean } = {}): Promise<ModelRouteRow | null> {
  const { rows } = await db.query<ModelRouteRow>(`SELECT ${COLUMNS} FROM model_routes WHERE id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return rows[0] ?? null;
}

export async function listModelRoutes(db: Queryable, filter: { modelId: string; after: string | null; limit: number }): Promise<ModelRouteRow[]> {
  const { rows } = await db.query<ModelRouteRow>(
    `SELECT ${COLUMNS} FROM model_routes WHERE model_id = $1 AND ($2::uuid IS NULL OR id > $2::uuid) ORDER BY id LIMIT $3`,
    [filter.modelId, filter.after, filter.limit],
  );
  return rows;
}

/** null when the new upstream name collides with another route of the same model and supplier. */
export async function updateModelRoute(db: Queryable, id: string, r: RouteFields): Promise<ModelRouteRow | null> {
  const { rows } = await db.query<ModelRouteRow>(
    `UPDATE model_routes SET upstream_model = $2, priority = $3, credential_id = $4, status = $5
      WHERE id = $1 AND NOT EXISTS (
            SELECT 1 FROM model_routes o
             WHERE o.id <> $1 AND o.model_id = model_routes.model_id AND o.supplier_id = model_routes.supplier_id
               AND o.upstream_model = $2)
      RETURNING ${COLUMNS}`,
    [id, r.upstream_model, r.priority, r.credential_id, r.status],
  );
  return rows[0] ?? null;
}

export async function deleteModelRoute(db: Queryable, id: string): Promise<void> {
  await db.query('DELETE FROM model_routes WHERE id = $1', [id]);
}
