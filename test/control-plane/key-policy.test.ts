import { describe, expect, it } from 'vitest';
import { withinOwnerLimits, type KeyPolicy } from '../../control-plane/key-policy.ts';

const open: KeyPolicy = { allowedModels: [], allowedRegions: [], allowedSuppliers: [], budgetLimitMicros: null, budgetPeriod: null };

describe('a key policy within its owner limits', () => {
  it('takes any policy when the key has no owner or the owner has no limits', () => {
    const wide = { ...open, allowedModels: ['a', 'b'], budgetLimitMicros: 10, budgetPeriod: 'daily' as const };
    expect(withinOwnerLimits(wide, null)).toEqual({ ok: true, policy: wide });
    expect(withinOwnerLimits(wide, open)).toEqual({ ok: true, policy: wide });
  });

  it("narrows an empty allowlist to the owner's, since empty would mean everything", () => {
    const owner = { ...open, allowedModels: ['a'], allowedRegions: ['EU'] };
    expect(withinOwnerLimits(open, owner)).toEqual({ ok: true, policy: { ...open, allowedModels: ['a'], allowedRegions: ['EU'] } });
  });

  it('refuses an allowlist entry beyond the owner and names the field', () => {
    const owner = { ...open, allowedSuppliers: ['s1'] };
    const result = withinOwnerLimits({ ...open, allowedSuppliers: ['s1', 's2'] }, owner);
    expect(result).toMatchObject({ ok: false, param: 'allowed_suppliers' });
    expect(withinOwnerLimits({ ...open, allowedSuppliers: ['s1'] }, owner).ok).toBe(true);
  });

  it("refuses a key budget above the owner's, and accepts an equal or smaller one", () => {
    const owner = { ...open, budgetLimitMicros: 100, budgetPeriod: 'monthly' as const };
    expect(withinOwnerLimits({ ...open, budgetLimitMicros: 101, budgetPeriod: 'daily' }, owner)).toMatchObject({ ok: false, param: 'budget_limit' });
    expect(withinOwnerLimits({ ...open, budgetLimitMicros: 100, budgetPeriod: 'monthly' }, owner).ok).toBe(true);
    expect(withinOwnerLimits(open, owner).ok).toBe(true);
  });

  it('does not change the policy it was given', () => {
    const requested = { ...open };
    withinOwnerLimits(requested, { ...open, allowedModels: ['a'] });
    expect(requested.allowedModels).toEqual([]);
  });
});
