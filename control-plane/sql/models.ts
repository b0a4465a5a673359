// Queries on public models (catalog API).

import type { Queryable } from '../db.ts';

export type ModelRow = {
  id: string;
  type: string;
  owned_by: string;
  context_window: number | null;
  max_output_tokens: number | null;
  capabilities: string[];
  status: 'active' | 'disabled';
  created_at: Date;
};

export type ModelFields = Omit<ModelRow, 'id' | 'created_at'>;

const COLUMNS = 'id, type, owned_by, context_window, max_output_tokens, capabilities, status, created_at';

/** null when the id is taken (the caller answers 409). */
export async function insertModel(db: Queryable, m: ModelFields & { id: string }): Promise<ModelRow | null> {
  const { rows } = await db.query<ModelRow>(
    `INSERT INTO models (id, type, owned_by, context_window, max_output_tokens, capabilities, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
    [m.id, m.type, m.owned_by, m.context_window, m.max_output_tokens, m.capabilities, m.status],
  );
  return rows[0] ?? null;
}

export async function findModel(db: Queryable, id: string, options: { forUpdate?: boolean } = {}): Promise<ModelRow | null> {
  const { rows } = await db.query<ModelRow>(`SELECT ${COLUMNS} FROM models WHERE id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return rows[0] ?? null;
}

export async function listModels(db: Queryable, page: { after: string | null; limit: number }): Promise<ModelRow[]> {
  const { rows } = await db.query<ModelRow>(
    `SELECT ${COLUMNS} FROM models WHERE ($1::text IS NULL OR id > $1::text) ORDER BY id LIMIT $2`,
    [page.after, page.limit],
  );
  return rows;
}

export async function updateModel(db: Queryable, id: string, m: ModelFields): Promise<ModelRow> {
  const { rows } = await db.query<ModelRow>(
    `UPDATE models SET type = $2, owned_by = $3, context_window = $4, max_output_tokens = $5, capabilities = $6, status = $7
      WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, m.type, m.owned_by, m.context_window, m.max_output_tokens, m.capabilities, m.status],
  );
  return rows[0]!;
}
