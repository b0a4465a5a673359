// The API shapes of keys: request bodies (validated, also documented in OpenAPI) and the answer.

import { z } from 'zod';
import { Region } from '../shared/manifest.ts';
import { microsToUsd } from '../shared/money.ts';
import { PageQuery } from './pagination.ts';
import { BudgetPeriod, UsdAmount } from './usd-amount.ts';
import type { KeyRow } from './sql/keys.ts';
import { isoTimestamp } from '../shared/timestamp.ts';

const Names = z.array(z.string().min(1).max(200)).max(100);

const Rpm = z.number().int().min(1).max(1_000_000);
const Tpm = z.number().int().min(1).max(1_000_000_000);
const Expiry = isoTimestamp({ offset: true });

const budgetPair = (b: { budget_limit?: unknown; budget_period?: unknown }) =>
  (b.budget_limit === undefined || b.budget_limit === null) === (b.budget_period === undefined || b.budget_period === null);
const BUDGET_PAIR = { path: ['budget_period'], message: 'budget_limit and budget_period are set (or cleared) together' };

// Strict: an unknown field is a 422, never silently ignored.
export const CreateKey = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    org_id: z.uuid().optional(),
    owner_user_id: z.uuid().optional(),
    allowed_models: Names.default([]),
    allowed_regions: z.array(Region).max(3).default([]),
    allowed_suppliers: Names.default([]),
    budget_limit: UsdAmount.optional(),
    budget_period: BudgetPeriod.optional(),
    rate_limit_rpm: Rpm.optional(),
    rate_limit_tpm: Tpm.optional(),
    expires_at: Expiry.optional(),
  })
  .refine(budgetPair, BUDGET_PAIR);

/** PATCH: only the fields given change; `null` clears a limit or the expiry. */
export const UpdateKey = z
  .strictObject({
    name: z.string().trim().min(1).max(200).optional(),
    allowed_models: Names.optional(),
    allowed_regions: z.array(Region).max(3).optional(),
    allowed_suppliers: Names.optional(),
    budget_limit: UsdAmount.nullable().optional(),
    budget_period: BudgetPeriod.nullable().optional(),
    rate_limit_rpm: Rpm.nullable().optional(),
    rate_limit_tpm: Tpm.nullable().optional(),
    expires_at: Expiry.nullable().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'send at least one field to change' })
  .refine((b) => !('budget_limit' in b || 'budget_period' in b) || budgetPair(b), BUDGET_PAIR);

export const RotateKey = z.strictObject({
  /** How long the previous secret keeps working; 0 stops it at once. */
  overlap_seconds: z.number().int().min(0).max(7 * 24 * 3600).default(3600),
});

export const ListKeys = PageQuery.extend({ org_id: z.uuid().optional() });

export function presentKey(key: KeyRow) {
  const budgetMicros = key.budget_limit_micros === null ? null : Number(key.budget_limit_micros);
  return {
    object: 'api_key' as const,
    id: key.id,
    org_id: key.org_id,
    owner_user_id: key.owner_user_id,
    name: key.name,
    prefix: key.prefix,
    allowed_models: key.allowed_models,
    allowed_regions: key.allowed_regions,
    allowed_suppliers: key.allowed_suppliers,
    budget_limit: budgetMicros === null ? null : microsToUsd(budgetMicros),
    budget_limit_micros: budgetMicros,
    budget_period: key.budget_period,
    rate_limit_rpm: key.rate_limit_rpm,
    rate_limit_tpm: key.rate_limit_tpm,
    status: key.status,
    created_at: key.created_at.toISOString(),
    expires_at: key.expires_at?.toISOString() ?? null,
    revoked_at: key.revoked_at?.toISOString() ?? null,
    rotated_at: key.rotated_at?.toISOString() ?? null,
    previous_key_expires_at: key.previous_key_expires_at?.toISOString() ?? null,
  };
}
