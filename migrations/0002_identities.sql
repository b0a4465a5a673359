-- 0002: identities and access: invitations, per-user limits on memberships, and what token
-- listings show. Role rules themselves live in control-plane/authz.ts.

-- One account per address whatever its case: invitations are matched to users by lower(email).
CREATE UNIQUE INDEX users_email_lower_idx ON users (lower(email));

-- Per-user limits in an org, read by key policy: a key never exceeds its owner's limits.
-- Empty allowlists mean everything, as on api_keys.
ALTER TABLE org_members
  ADD COLUMN budget_limit_micros bigint CHECK (budget_limit_micros >= 0),
  ADD COLUMN budget_period text CHECK (budget_period IN ('daily', 'monthly', 'cumulative')),
  ADD COLUMN allowed_models text[] NOT NULL DEFAULT '{}',
  ADD COLUMN allowed_regions text[] NOT NULL DEFAULT '{}',
  ADD COLUMN allowed_suppliers text[] NOT NULL DEFAULT '{}',
  ADD CONSTRAINT org_members_allowed_regions CHECK (allowed_regions <@ ARRAY['EU', 'US', 'APAC']),
  ADD CONSTRAINT org_members_budget_pair CHECK ((budget_limit_micros IS NULL) = (budget_period IS NULL));

-- Personal access tokens: listings show when each was last used (updated at most once a minute).
ALTER TABLE admin_tokens ADD COLUMN last_used_at timestamptz;
CREATE INDEX admin_tokens_user_idx ON admin_tokens (user_id, id);

-- Invitations to an org. The token is shown once at creation; only its SHA-256 is stored.
-- An invitation is pending until accepted, revoked or past expires_at (checked by the reader).
CREATE TABLE invitations (
  id           uuid PRIMARY KEY,
  org_id       uuid NOT NULL REFERENCES orgs (id),
  email        text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  role         text NOT NULL CHECK (role IN ('org_owner', 'org_admin', 'user')),
  token_hash   text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  invited_by   uuid NOT NULL REFERENCES users (id),
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  accepted_at  timestamptz,
  accepted_by  uuid REFERENCES users (id),
  revoked_at   timestamptz,
  CHECK ((accepted_at IS NULL) = (accepted_by IS NULL)),
  CHECK (accepted_at IS NULL OR revoked_at IS NULL)
);
CREATE INDEX invitations_org_idx ON invitations (org_id, id);
CREATE INDEX invitations_org_email_idx ON invitations (org_id, lower(email));
