-- 0003: the catalog API (statuses, price dimensions) and provider credentials encrypted at rest.
-- Runs on PostgreSQL and PGlite alike: plain DDL, no extensions.

-- Disabled suppliers, models and routes stay in the database (history, usage rows name them) but
-- leave the manifest, so edges stop offering them.
ALTER TABLE suppliers ADD COLUMN status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled'));
ALTER TABLE models ADD COLUMN status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled'));
ALTER TABLE model_routes ADD COLUMN status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled'));
ALTER TABLE model_routes ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX model_routes_model_idx ON model_routes (model_id, id);

-- A supplier's credentials: an API key, or an OAuth grant (access token + refresh token) that the
-- control plane renews before it expires. Only non-secret fields live here; the secrets are in
-- credential_secrets, one encrypted envelope per field.
CREATE TABLE supplier_credentials (
  id                       uuid PRIMARY KEY,
  supplier_id              text NOT NULL REFERENCES suppliers (id),
  kind                     text NOT NULL CHECK (kind IN ('api_key', 'oauth')),
  status                   text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
  -- The last 4 characters of an API key, to recognise it in a listing (null for OAuth: its token changes).
  hint                     text CHECK (length(hint) <= 4),
  token_url                text,
  client_id                text,
  access_token_expires_at  timestamptz,
  refreshed_at             timestamptz,
  created_at               timestamptz NOT NULL DEFAULT now(),
  retired_at               timestamptz,
  CHECK ((status = 'retired') = (retired_at IS NOT NULL)),
  CHECK ((kind = 'oauth') = (token_url IS NOT NULL AND client_id IS NOT NULL AND access_token_expires_at IS NOT NULL))
);
CREATE INDEX supplier_credentials_supplier_idx ON supplier_credentials (supplier_id, id);
-- What the OAuth refresher scans each round.
CREATE INDEX supplier_credentials_oauth_due_idx ON supplier_credentials (access_token_expires_at)
  WHERE kind = 'oauth' AND status = 'active';

-- AES-256-GCM envelopes (control-plane/credentials/envelope.ts): `ciphertext` is the secret under a
-- per-secret data key with `iv`; `wrapped_key` is that data key under the key-encryption key
-- `kek_id` with `wrap_iv`. Both layers authenticate 'supplier_credentials:<id>:<field>', so an
-- envelope copied to another row or field does not decrypt. One table rather than five columns
-- per secret field: KEK rotation re-wraps one row shape, and retiring a credential deletes its
-- envelopes (nothing left to leak).
CREATE TABLE credential_secrets (
  credential_id  uuid NOT NULL REFERENCES supplier_credentials (id),
  field          text NOT NULL CHECK (field IN ('secret', 'refresh_token', 'client_secret')),
  kek_id         text NOT NULL CHECK (length(kek_id) BETWEEN 1 AND 64),
  wrapped_key    bytea NOT NULL CHECK (length(wrapped_key) = 48),  -- 32-byte key + 16-byte GCM tag
  wrap_iv        bytea NOT NULL CHECK (length(wrap_iv) = 12),
  iv             bytea NOT NULL CHECK (length(iv) = 12),
  ciphertext     bytea NOT NULL CHECK (length(ciphertext) >= 17),  -- at least 1 byte + 16-byte tag
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (credential_id, field)
);
CREATE INDEX credential_secrets_kek_idx ON credential_secrets (kek_id);

-- A route may pin one credential of its supplier; NULL = any active credential of that supplier.
ALTER TABLE model_routes ADD COLUMN credential_id uuid REFERENCES supplier_credentials (id);

-- More price dimensions (PRODUCT.md §5), all integer µUSD: cached input and cache writes per 1M
-- tokens (NULL: not offered, billed as plain input), audio per second, and context-size tiers
-- [{min_input_tokens, input_per_mtok, output_per_mtok, cached_input_per_mtok?, cache_write_per_mtok?}]
-- whose shape the API validates.
ALTER TABLE model_prices
  ADD COLUMN cached_input_per_mtok  bigint CHECK (cached_input_per_mtok >= 0),
  ADD COLUMN cache_write_per_mtok   bigint CHECK (cache_write_per_mtok >= 0),
  ADD COLUMN per_second             bigint CHECK (per_second >= 0),
  ADD COLUMN tiers                  jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tiers) = 'array'),
  ADD COLUMN created_at             timestamptz NOT NULL DEFAULT now();

-- Price versions are facts that usage rows were (or will be) priced with: a version is added,
-- never rewritten or removed. A later migration that must backfill a new column may still
-- UPDATE other columns.
CREATE FUNCTION model_prices_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'model_prices is versioned: % of a price version is not allowed; add a new version', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER model_prices_no_rewrite
  BEFORE UPDATE OF model_id, effective_from, input_per_mtok, output_per_mtok, cached_input_per_mtok,
                   cache_write_per_mtok, per_second, tiers
  OR DELETE ON model_prices
  FOR EACH ROW EXECUTE FUNCTION model_prices_reject_change();
