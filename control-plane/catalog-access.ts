// Who may touch the catalog (PRODUCT.md §3): pure, no I/O. The catalog is platform data, so any
// non-platform caller gets 403 (not 404: there is no tenant object to hide).
//
// - read (suppliers, models, routes, prices, credential metadata): platform staff.
// - operate (models, routes, prices; org suspension): platform staff, i.e. owners and admins
//   ("admins operate catalog and prices").
// - suppliers (create, change) and credentials (add, retire): platform owner only. A supplier's
//   base_url is where the edge sends that supplier's credential, so changing it, or adding a
//   credential, decides where a secret goes; admins may pin a route to an existing credential of
//   the same supplier, which moves no secret anywhere new.

import { ApiError } from '../shared/errors.ts';
import type { Principal } from './admin-auth.ts';
import { isPlatformOwner, isPlatformStaff } from './authz.ts';

export type CatalogAction = 'read' | 'operate' | 'suppliers' | 'credentials';

export function mayCatalog(p: Principal, action: CatalogAction): boolean {
  return action === 'suppliers' || action === 'credentials' ? isPlatformOwner(p) : isPlatformStaff(p);
}

export function requireCatalog(p: Principal, action: CatalogAction): void {
  if (mayCatalog(p, action)) return;
  throw new ApiError(
    'forbidden',
    action === 'suppliers' || action === 'credentials'
      ? 'Only the platform owner manages suppliers and their credentials.'
      : 'Only platform administrators use the catalog API.',
  );
}
