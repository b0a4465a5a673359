// Queries on suppliers (catalog API). The demo seed still upserts through sql/catalog.ts.

import type { Queryable } from '../db.ts';

export type SupplierRow = {
  id: string;
  name: string;
  format: 'openai' | 'anthropic';
  base_url: string;
  region: 'EU' | 'US' | 'APAC';
  status: 'active' | 'disabled';
  created_at: Date;
};

type SupplierFields = Pick<SupplierRow, 'name' | 'format' | 'base_url' | 'region' | 'status'>;

const COLUMNS = 'id, name, format, base_url, region, status, created_at';

/** null when the id is taken (the caller answers 409). */
export async function insertSupplier(db: Queryable, s: SupplierFields & { id: string }): Promise<SupplierRow | null> {
  const { rows } = await db.query<SupplierRow>(
    `INSERT INTO suppliers (id, name, format, base_url, region, status) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
    [s.id, s.name, s.format, s.base_url, s.region, s.status],
  );
  return rows[0] ?? null;
}

export async function findSupplier(db: Queryable, id: string, options: { forUpdate?: boolean } = {}): Promise<SupplierRow | null> {
  const { rows } = await db.query<SupplierRow>(`SELECT ${COLUMNS} FROM suppliers WHERE id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return rows[0] ?? null;
}

export async function listSuppliers(db: Queryable, page: { after: string | null; limit: number }): Promise<SupplierRow[]> {
  const { rows } = await db.query<SupplierRow>(
    `SELECT ${COLUMNS} FROM suppliers WHERE ($1::text IS NULL OR id > $1::text) ORDER BY id LIMIT $2`,
    [page.after, page.limit],
  );
  return rows;
}

export async function updateSupplier(db: Queryable, id: string, s: SupplierFields): Promise<SupplierRow> {
  const { rows } = await db.query<SupplierRow>(
    `UPDATE suppliers SET name = $2, format = $3, base_url = $4, region = $5, status = $6 WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, s.name, s.format, s.base_url, s.region, s.status],
  );
  return rows[0]!;
}
