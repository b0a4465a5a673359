-- 0012: allowance leases (ARCHITECTURE.md §4, shared/allowance.ts). A lease is a slice of one
-- scope's remaining allowance granted to one edge node: the org wallet ('org:<org>'), a member's
-- budget ('user:<org>:<user>') or a key's budget and RPM/TPM ('key:<key>').
--
-- What a lease holds back from its scope:
-- - money: money_cap - ingested_micros (never below 0) while the lease is live (not expired) or
--   closed (cap = its final usage, waiting for those usage events to be ingested); nothing once
--   it expired without being closed (the edge died or was cut off: the hold is released).
--   Ingestion adds each event's cost to ingested_micros of the leases the event names, in the
--   same transaction that adds it to the rollups and the wallet, so money moves from "held" to
--   "spent" atomically and is never counted twice or not at all.
-- - requests / tokens: the caps, in the UTC minute (window_start) they were granted for.
-- Caps start at the grant and are only ever lowered (by the edge's updates).

CREATE TABLE allowance_leases (
  id                uuid PRIMARY KEY,
  node_id           text NOT NULL REFERENCES edge_nodes (id),
  scope             text NOT NULL CHECK (scope ~ '^(org|user|key):[0-9a-f:-]+$'),
  org_id            uuid NOT NULL REFERENCES orgs (id),
  -- The budget period the money belongs to (key/user daily or monthly); null: wallet, cumulative.
  period_start      timestamptz,
  -- The UTC minute the requests/tokens belong to; null: no rate limit.
  window_start      timestamptz,
  money_granted     bigint CHECK (money_granted >= 0),
  money_cap         bigint CHECK (money_cap >= 0),
  requests_granted  integer CHECK (requests_granted >= 0),
  requests_cap      integer CHECK (requests_cap >= 0),
  tokens_granted    bigint CHECK (tokens_granted >= 0),
  tokens_cap        bigint CHECK (tokens_cap >= 0),
  ingested_micros   bigint NOT NULL DEFAULT 0 CHECK (ingested_micros >= 0),
  granted_at        timestamptz NOT NULL,
  expires_at        timestamptz NOT NULL,
  closed_at         timestamptz,
  CHECK ((money_granted IS NULL) = (money_cap IS NULL)),
  CHECK ((requests_granted IS NULL) = (requests_cap IS NULL)),
  CHECK ((tokens_granted IS NULL) = (tokens_cap IS NULL))
);
-- Grants read a scope's recent leases (expires_at is bumped at close, so one range covers live,
-- closed and recently expired leases).
CREATE INDEX allowance_leases_scope_idx ON allowance_leases (scope, expires_at);
CREATE INDEX allowance_leases_expires_idx ON allowance_leases (expires_at);
