// Per-key policy: which models a key may call and through which routes. Pure functions of the
// key and the manifest; a denial is a value naming the restriction, so the 403 can say which.

import type { ErrorCode } from '../shared/errors.ts';
import type { KeyEntry, ManifestPayload, ModelEntry, RouteEntry } from '../shared/manifest.ts';

export type Admission =
  | { ok: true; model: ModelEntry; routes: RouteEntry[] }
  | { ok: false; code: ErrorCode; message: string; param?: string };

/** The routes of a model this key may use, best priority first. */
export function routesForKey(key: KeyEntry, model: ModelEntry): RouteEntry[] {
  return model.routes
    .filter(
      (r) =>
        (key.allowed_regions.length === 0 || key.allowed_regions.includes(r.region)) &&
        (key.allowed_suppliers.length === 0 || key.allowed_suppliers.includes(r.supplier_id)),
    )
    .sort((a, b) => a.priority - b.priority);
}

/** A key of a suspended (or unknown) org may do nothing at all. */
export function orgActive(key: KeyEntry, manifest: ManifestPayload): boolean {
  return manifest.orgs[key.org_id]?.status === 'active';
}

export const ORG_SUSPENDED_MESSAGE = 'The organisation of this key is suspended.';

export function admit(key: KeyEntry, manifest: ManifestPayload, modelId: string): Admission {
  if (!orgActive(key, manifest)) return { ok: false, code: 'org_suspended', message: ORG_SUSPENDED_MESSAGE };
  const model = Object.hasOwn(manifest.models, modelId) ? manifest.models[modelId] : undefined;
  if (!model) return { ok: false, code: 'model_not_found', message: `The model '${modelId}' does not exist.`, param: 'model' };
  if (key.allowed_models.length > 0 && !key.allowed_models.includes(modelId)) {
    return { ok: false, code: 'model_not_allowed', message: `This API key may not use the model '${modelId}' (allowed_models).`, param: 'model' };
  }
  const byRegion = model.routes.filter((r) => key.allowed_regions.length === 0 || key.allowed_regions.includes(r.region));
  if (model.routes.length > 0 && byRegion.length === 0) {
    return {
      ok: false,
      code: 'region_not_allowed',
      message: `The model '${modelId}' is not served in this key's allowed regions (${key.allowed_regions.join(', ')}).`,
    };
  }
  const routes = routesForKey(key, model);
  if (byRegion.length > 0 && routes.length === 0) {
    return {
      ok: false,
      code: 'supplier_not_allowed',
      message: `The model '${modelId}' has no supplier among this key's allowed suppliers (${key.allowed_suppliers.join(', ')}).`,
    };
  }
  if (routes.length === 0) return { ok: false, code: 'upstream_failed', message: `The model '${modelId}' has no supplier configured.` };
  return { ok: true, model, routes };
}

/** Models a key may call: allowed by name and reachable through at least one allowed route. */
export function visibleModels(key: KeyEntry, manifest: ManifestPayload): ModelEntry[] {
  return Object.values(manifest.models).filter((m) => admit(key, manifest, m.id).ok);
}

/** The kind of API surface a model serves: its catalog `type` (control-plane/routes/models.ts). */
export type SurfaceType = 'chat' | 'embedding' | 'rerank' | 'transcription' | 'speech';

/** Null when the model serves this surface; else the 400's message naming the model's type. */
export function surfaceMismatch(model: ModelEntry, surface: SurfaceType): string | null {
  if (model.type === surface) return null;
  return `The model '${model.id}' is a ${model.type} model; this endpoint serves ${surface} models.`;
}
