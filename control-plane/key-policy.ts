// A key's policy must stay within its owner's limits (PRODUCT.md §2: a role never grants more than
// it has). Pure: the caller loads the owner's membership limits and applies the answer.

export type BudgetPeriod = 'daily' | 'monthly' | 'cumulative';

export interface KeyPolicy {
  allowedModels: string[];
  allowedRegions: string[];
  allowedSuppliers: string[];
  budgetLimitMicros: number | null;
  budgetPeriod: BudgetPeriod | null;
}

/** The owner's per-user limits in the key's org; empty lists mean everything. */
export type OwnerLimits = KeyPolicy;

export type PolicyCheck = { ok: true; policy: KeyPolicy } | { ok: false; param: string; message: string };

const LISTS = [
  ['allowedModels', 'allowed_models'],
  ['allowedRegions', 'allowed_regions'],
  ['allowedSuppliers', 'allowed_suppliers'],
] as const;

/**
 * Narrows an empty allowlist to the owner's (empty means "everything", which would exceed it) and
 * refuses anything beyond the owner's lists or budget. A key budget is compared with the owner's
 * by amount whatever the periods: the owner's own budget is enforced as well, so a stricter key is
 * always safe and a larger one never is.
 */
export function withinOwnerLimits(requested: KeyPolicy, owner: OwnerLimits | null): PolicyCheck {
  if (!owner) return { ok: true, policy: requested };
  const policy = { ...requested };
  for (const [field, param] of LISTS) {
    const ownerList = owner[field];
    if (ownerList.length === 0) continue;
    if (policy[field].length === 0) {
      policy[field] = [...ownerList];
      continue;
    }
    const outside = policy[field].filter((item) => !ownerList.includes(item));
    if (outside.length > 0) {
      return { ok: false, param, message: `Invalid value for '${param}': ${outside.join(', ')} beyond the owner's ${param}.` };
    }
  }
  if (owner.budgetLimitMicros !== null && policy.budgetLimitMicros !== null && policy.budgetLimitMicros > owner.budgetLimitMicros) {
    return { ok: false, param: 'budget_limit', message: "Invalid value for 'budget_limit': above the owner's own budget." };
  }
  return { ok: true, policy };
}
