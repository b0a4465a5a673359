-- 0001: the first schema. Holds what the walking skeleton uses, shaped for the rest of PRODUCT.md.
-- Conventions: uuid primary keys minted by the application (UUIDv7), timestamptz in UTC,
-- money as bigint micro-USD, enums as text with CHECK constraints (no Postgres enum types, so
-- adding a value is a one-line migration).

CREATE TABLE orgs (
  id          uuid PRIMARY KEY,
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id             uuid PRIMARY KEY,
  email          text NOT NULL UNIQUE CHECK (length(email) BETWEEN 3 AND 320),
  name           text NOT NULL DEFAULT '',
  status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  -- Platform role; org roles live in org_members.
  platform_role  text CHECK (platform_role IN ('taas_owner', 'taas_admin')),
  created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE org_members (
  org_id      uuid NOT NULL REFERENCES orgs (id),
  user_id     uuid NOT NULL REFERENCES users (id),
  role        text NOT NULL CHECK (role IN ('org_owner', 'org_admin', 'user')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user_idx ON org_members (user_id);

-- Management API tokens (personal access tokens). Only the SHA-256 is stored.
CREATE TABLE admin_tokens (
  id          uuid PRIMARY KEY,
  user_id     uuid NOT NULL REFERENCES users (id),
  name        text NOT NULL DEFAULT '',
  token_hash  text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  prefix      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz,
  revoked_at  timestamptz
);

-- Customer API keys. Only the SHA-256 is stored; `prefix` is the short display form.
CREATE TABLE api_keys (
  id                 uuid PRIMARY KEY,
  org_id             uuid NOT NULL REFERENCES orgs (id),
  owner_user_id      uuid REFERENCES users (id),
  name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  key_hash           text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
  prefix             text NOT NULL,
  allowed_models     text[] NOT NULL DEFAULT '{}',
  allowed_regions    text[] NOT NULL DEFAULT '{}' CHECK (allowed_regions <@ ARRAY['EU', 'US', 'APAC']),
  allowed_suppliers  text[] NOT NULL DEFAULT '{}',
  status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
  created_at         timestamptz NOT NULL DEFAULT now(),
  expires_at         timestamptz,
  revoked_at         timestamptz,
  CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE INDEX api_keys_org_idx ON api_keys (org_id, id);

-- Catalog: suppliers, public models, and the ordered routes between them.
CREATE TABLE suppliers (
  id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  name        text NOT NULL,
  format      text NOT NULL CHECK (format IN ('openai', 'anthropic')),
  base_url    text NOT NULL,
  region      text NOT NULL CHECK (region IN ('EU', 'US', 'APAC')),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE models (
  id                 text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
  type               text NOT NULL DEFAULT 'chat',
  owned_by           text NOT NULL,
  context_window     integer,
  max_output_tokens  integer,
  capabilities       text[] NOT NULL DEFAULT '{}',
  created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE model_routes (
  id              uuid PRIMARY KEY,
  model_id        text NOT NULL REFERENCES models (id),
  supplier_id     text NOT NULL REFERENCES suppliers (id),
  upstream_model  text NOT NULL,
  priority        integer NOT NULL DEFAULT 100,
  UNIQUE (model_id, supplier_id, upstream_model)
);

-- Versioned prices: a usage row is priced with the row in force at its request time.
CREATE TABLE model_prices (
  model_id             text NOT NULL REFERENCES models (id),
  effective_from       timestamptz NOT NULL,
  input_per_mtok       bigint NOT NULL CHECK (input_per_mtok >= 0),   -- µUSD per 1M tokens
  output_per_mtok      bigint NOT NULL CHECK (output_per_mtok >= 0),  -- µUSD per 1M tokens
  PRIMARY KEY (model_id, effective_from)
);

-- Edge nodes and their Ed25519 public keys (JWK); node API tokens are verified against these.
CREATE TABLE edge_nodes (
  id              text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  name            text NOT NULL DEFAULT '',
  public_key_jwk  jsonb NOT NULL,
  status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  created_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per finished request, keyed by the event id the edge minted (idempotent ingestion).
-- Holds counts and metadata only: never prompt or completion text.
CREATE TABLE usage_events (
  id             uuid PRIMARY KEY,
  request_id     text NOT NULL,
  key_id         uuid NOT NULL REFERENCES api_keys (id),
  org_id         uuid NOT NULL REFERENCES orgs (id),
  user_id        uuid REFERENCES users (id),
  node_id        text NOT NULL REFERENCES edge_nodes (id),
  model          text NOT NULL,
  supplier_id    text,
  region         text,
  endpoint       text NOT NULL,
  status         integer NOT NULL,
  input_tokens   integer NOT NULL CHECK (input_tokens >= 0),
  output_tokens  integer NOT NULL CHECK (output_tokens >= 0),
  estimated      boolean NOT NULL,
  cost_micros    bigint NOT NULL CHECK (cost_micros >= 0),
  latency_ms     integer NOT NULL,
  started_at     timestamptz NOT NULL,
  received_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_events_org_time_idx ON usage_events (org_id, started_at);
CREATE INDEX usage_events_key_time_idx ON usage_events (key_id, started_at);
CREATE INDEX usage_events_request_idx ON usage_events (request_id);

-- The manifest version: bumped (row-locked, so in commit order) by every transaction that
-- changes what edges see. A sequence would not do: its values are handed out before commit, so a
-- slow transaction could land under a version that was already built and published.
CREATE TABLE manifest_state (
  singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version     bigint NOT NULL,
  changed_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO manifest_state (version) VALUES (1);

-- The audit log: one row per administrative mutation, written in the mutation's transaction.
CREATE TABLE audit_log (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at             timestamptz NOT NULL DEFAULT now(),
  actor_user_id  uuid,
  actor_token_id uuid,
  org_id         uuid,
  action         text NOT NULL,
  target_type    text NOT NULL,
  target_id      text NOT NULL,
  before         jsonb,
  after          jsonb,
  request_id     text,
  client_addr    text
);
CREATE INDEX audit_log_org_idx ON audit_log (org_id, id);

CREATE FUNCTION audit_log_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_reject_change();
CREATE TRIGGER audit_log_no_truncate
  BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_reject_change();
-- ENABLE ALWAYS: the triggers fire even under session_replication_role = replica.
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_update_delete;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;
