// A membership change as a value: a PATCH merged onto the current row, pure. A budget is a pair
// (limit and period set or cleared together); clearing the limit clears its period with it.

import type { BudgetPeriod, MemberFields, MemberRow } from './sql/members.ts';
import type { OrgRole } from './sql/principals.ts';

/** The parsed PATCH body; `budget_limit` is already integer µUSD. */
export type MemberPatch = {
  role?: OrgRole | undefined;
  budget_limit?: number | null | undefined;
  budget_period?: BudgetPeriod | null | undefined;
  allowed_models?: string[] | undefined;
  allowed_regions?: string[] | undefined;
  allowed_suppliers?: string[] | undefined;
};

export type MergedMember = { ok: true; fields: MemberFields } | { ok: false; param: 'budget_limit' | 'budget_period'; message: string };

export function currentMemberFields(row: MemberRow): MemberFields {
  return {
    role: row.role,
    budgetLimitMicros: row.budget_limit_micros === null ? null : Number(row.budget_limit_micros),
    budgetPeriod: row.budget_period,
    allowedModels: row.allowed_models,
    allowedRegions: row.allowed_regions,
    allowedSuppliers: row.allowed_suppliers,
  };
}

export function mergeMemberFields(row: MemberRow, patch: MemberPatch): MergedMember {
  const current = currentMemberFields(row);
  const budgetLimitMicros = patch.budget_limit === undefined ? current.budgetLimitMicros : patch.budget_limit;
  const budgetPeriod = patch.budget_period !== undefined ? patch.budget_period : patch.budget_limit === null ? null : current.budgetPeriod;
  if ((budgetLimitMicros === null) !== (budgetPeriod === null)) {
    const param = budgetLimitMicros === null ? 'budget_limit' : 'budget_period';
    return { ok: false, param, message: `Invalid value for '${param}': budget_limit and budget_period are set (or cleared) together.` };
  }
  return {
    ok: true,
    fields: {
      role: patch.role ?? current.role,
      budgetLimitMicros,
      budgetPeriod,
      allowedModels: patch.allowed_models ?? current.allowedModels,
      allowedRegions: patch.allowed_regions ?? current.allowedRegions,
      allowedSuppliers: patch.allowed_suppliers ?? current.allowedSuppliers,
    },
  };
}

/** True when applying `next` would change nothing (such a PATCH writes no row and no audit). */
export function sameMemberFields(row: MemberRow, next: MemberFields): boolean {
  return JSON.stringify(currentMemberFields(row)) === JSON.stringify(next);
}
