-- 0005: the full key policy (budgets, rate limits, rotation with overlap) and idempotency keys
-- for management POSTs.

ALTER TABLE api_keys
  ADD COLUMN budget_limit_micros bigint CHECK (budget_limit_micros >= 0),
  ADD COLUMN budget_period text CHECK (budget_period IN ('daily', 'monthly', 'cumulative')),
  ADD COLUMN rate_limit_rpm integer CHECK (rate_limit_rpm > 0),
  ADD COLUMN rate_limit_tpm integer CHECK (rate_limit_tpm > 0),
  -- Rotation keeps the previous secret working until previous_key_expires_at (the overlap).
  ADD COLUMN previous_key_hash text UNIQUE CHECK (previous_key_hash ~ '^[0-9a-f]{64}$'),
  ADD COLUMN previous_key_expires_at timestamptz,
  ADD COLUMN rotated_at timestamptz,
  ADD CONSTRAINT api_keys_budget_pair CHECK ((budget_limit_micros IS NULL) = (budget_period IS NULL)),
  ADD CONSTRAINT api_keys_previous_pair CHECK ((previous_key_hash IS NULL) = (previous_key_expires_at IS NULL));

-- A POST with an Idempotency-Key runs once per (token, key); a retry gets the stored answer.
-- Stored answers never hold a secret: a raw key or token in a response is replaced by null.
CREATE TABLE idempotency_keys (
  token_id      uuid NOT NULL REFERENCES admin_tokens (id),
  key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  request_hash  text NOT NULL,
  status        integer,          -- null while the first request is still running
  response      jsonb,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (token_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
