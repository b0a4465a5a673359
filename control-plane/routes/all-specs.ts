// Every route of the control plane with its spec: the OpenAPI document and the route-walk tests
// read this list; a test fails when it and the app's own routes disagree.

import type { ApiSpec } from '../api-spec.ts';
import { auditSpecs } from './audit.ts';
import { edgeNodeSpecs } from './edge-nodes.ts';
import { invitationAcceptSpecs } from './invitation-accept.ts';
import { invitationSpecs } from './invitations.ts';
import { keySpecs } from './keys.ts';
import { memberSpecs } from './members.ts';
import { nodeApiSpecs } from './node-api.ts';
import { nodeCredentialSpecs } from './node-credentials.ts';
import { nodeAllowanceSpecs } from './node-allowances.ts';
import { orgSpecs } from './orgs.ts';
import { modelRouteSpecs } from './model-routes.ts';
import { modelSpecs } from './models.ts';
import { orgSuspensionSpecs } from './org-suspension.ts';
import { priceSpecs } from './prices.ts';
import { credentialSpecs } from './supplier-credentials.ts';
import { supplierSpecs } from './suppliers.ts';
import { tokenSpecs } from './tokens.ts';
import { userAccessSpecs } from './user-access.ts';
import { userSpecs } from './users.ts';
import { usageSpecs } from './usage.ts';
import { stripeWebhookSpecs } from './stripe-webhook.ts';
import { topupSpecs } from './topups.ts';
import { walletSpecs } from './wallet.ts';

const serviceSpecs: ApiSpec[] = [
  { method: 'get', path: '/healthz', summary: 'Liveness, with a database round trip', tag: 'service', access: 'public', success: { status: 200, description: '{ok: true}' } },
  { method: 'get', path: '/openapi.json', summary: 'This document', tag: 'service', access: 'public', success: { status: 200, description: 'OpenAPI 3.1' } },
];

export const API_SPECS: readonly ApiSpec[] = [...serviceSpecs, ...orgSpecs, ...keySpecs, ...edgeNodeSpecs, ...nodeApiSpecs,
  ...auditSpecs, ...usageSpecs,
  ...userSpecs, ...userAccessSpecs, ...memberSpecs, ...invitationSpecs, ...invitationAcceptSpecs, ...tokenSpecs,
  ...supplierSpecs, ...modelSpecs, ...priceSpecs, ...modelRouteSpecs, ...credentialSpecs, ...orgSuspensionSpecs,
  ...nodeCredentialSpecs, ...nodeAllowanceSpecs,
  ...walletSpecs, ...topupSpecs, ...stripeWebhookSpecs];
