-- 0011: usage at scale (issue 5). usage_events becomes partitioned by calendar month (UTC) on
-- started_at, gains the cache and reasoning counts and an `unpriced` flag, and a daily rollup
-- (usage_daily) is kept in the same transaction as each insert; queries, exports and budget
-- windows read the rollup, never the raw rows (except the lookup of one request by its id).
-- Runs on PostgreSQL 15+ and PGlite: plain DDL and PL/pgSQL, no extensions.

-- 1. The partitioned table ------------------------------------------------------------------------

ALTER TABLE usage_events RENAME TO usage_events_old;
ALTER INDEX usage_events_pkey RENAME TO usage_events_old_pkey;
DROP INDEX usage_events_org_time_idx;
DROP INDEX usage_events_key_time_idx;
DROP INDEX usage_events_request_idx;
-- Its constraints go too, so the new table's get the plain generated names.
ALTER TABLE usage_events_old
  DROP CONSTRAINT usage_events_key_id_fkey, DROP CONSTRAINT usage_events_org_id_fkey,
  DROP CONSTRAINT usage_events_user_id_fkey, DROP CONSTRAINT usage_events_node_id_fkey,
  DROP CONSTRAINT usage_events_input_tokens_check, DROP CONSTRAINT usage_events_output_tokens_check,
  DROP CONSTRAINT usage_events_cost_micros_check, DROP CONSTRAINT usage_events_audio_seconds_check;

-- One row per finished request; counts and metadata only, never prompt or completion text.
-- Idempotency is (id, started_at), not id alone: a unique constraint on a partitioned table must
-- include the partition key. That is no weaker: the edge mints the id and started_at together and
-- replays an event byte-identical from its durable outbox, so a given id always comes back with
-- the same started_at, and the replay lands on the same primary key and is skipped.
--
-- Foreign keys: to the org and the key (tenancy: a row must never name an org or key that does not
-- exist); none to users and edge_nodes (nothing deletes them, and each foreign key costs a lookup
-- and a shared row lock per inserted row on the ingest path: every event of a batch names the same
-- node). Ingestion checks key, org and owner against api_keys before inserting anyway.
CREATE TABLE usage_events (
  id                   uuid NOT NULL,
  request_id           text NOT NULL,
  key_id               uuid NOT NULL REFERENCES api_keys (id),
  org_id               uuid NOT NULL REFERENCES orgs (id),
  user_id              uuid,
  node_id              text NOT NULL,
  model                text NOT NULL,
  supplier_id          text,
  region               text,
  endpoint             text NOT NULL,
  status               integer NOT NULL,
  -- input_tokens is the whole prompt (cache reads and writes included); output_tokens includes
  -- reasoning_tokens (shared/pricing.ts).
  input_tokens         integer NOT NULL CHECK (input_tokens >= 0),
  output_tokens        integer NOT NULL CHECK (output_tokens >= 0),
  cached_input_tokens  integer NOT NULL DEFAULT 0 CHECK (cached_input_tokens >= 0),
  cache_write_tokens   integer NOT NULL DEFAULT 0 CHECK (cache_write_tokens >= 0),
  reasoning_tokens     integer NOT NULL DEFAULT 0 CHECK (reasoning_tokens >= 0),
  audio_seconds        numeric(10, 3) NOT NULL DEFAULT 0 CHECK (audio_seconds >= 0),
  estimated            boolean NOT NULL,
  -- A 2xx request whose model had no price version in force at started_at: stored at cost 0 and
  -- flagged, so it can be found and billed later instead of passing for a free request.
  unpriced             boolean NOT NULL DEFAULT false,
  cost_micros          bigint NOT NULL CHECK (cost_micros >= 0),
  latency_ms           integer NOT NULL,
  started_at           timestamptz NOT NULL,
  received_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (id, started_at),
  CHECK (NOT unpriced OR cost_micros = 0)
) PARTITION BY RANGE (started_at);
-- The one raw lookup the API makes (GET /v1/manage/usage/requests/:request_id), and an org's raw
-- rows over time (support, rebuilding a rollup); every other read goes to usage_daily.
CREATE INDEX usage_events_request_idx ON usage_events (request_id);
CREATE INDEX usage_events_org_time_idx ON usage_events (org_id, started_at);

-- The safety net: a row whose month has no partition yet lands here instead of failing the batch.
-- Ingestion creates the month's partition first, so this stays empty; should rows land here anyway,
-- creating their month's partition moves them out (below).
CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT;

-- 2. Monthly partitions, created on demand -------------------------------------------------------

-- Creates the partition of the UTC calendar month holding `month` (any day of it), if missing.
-- Ingestion calls it, in its own short transaction before the insert, for each month of a batch it
-- has not seen yet (cached per process). SECURITY DEFINER: the application role runs no DDL; this
-- fixed function, owned by the migrating role and with a pinned search_path, is all it may do.
-- The partition is built detached and then attached (ATTACH takes SHARE UPDATE EXCLUSIVE on
-- usage_events, so concurrent inserts and reads go on; CREATE TABLE ... PARTITION OF would take
-- ACCESS EXCLUSIVE), with a CHECK of its range so attaching need not scan it. Creators are
-- serialised by a transaction-scoped advisory lock, so two control planes never race on one month.
CREATE FUNCTION usage_events_ensure_partition(month date) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
  lo timestamptz := date_trunc('month', month::timestamp) AT TIME ZONE 'UTC';
  hi timestamptz := (date_trunc('month', month::timestamp) + interval '1 month') AT TIME ZONE 'UTC';
  part text := 'usage_events_' || to_char(date_trunc('month', month::timestamp), 'YYYY_MM');
BEGIN
  IF to_regclass('public.' || part) IS NOT NULL THEN
    RETURN;
  END IF;
  -- 'taasusag' read as a big-endian int64.
  PERFORM pg_advisory_xact_lock(8386091129660203367);
  IF to_regclass('public.' || part) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format('CREATE TABLE public.%I (LIKE public.usage_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
  EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I CHECK (started_at >= %L AND started_at < %L)', part, part || '_range', lo, hi);
  -- Rows of this month that reached the default partition move into the new one; ATTACH would
  -- otherwise refuse (the default partition may hold no row of an attached range).
  EXECUTE format('WITH moved AS (DELETE FROM public.usage_events_default WHERE started_at >= $1 AND started_at < $2 RETURNING *)
                  INSERT INTO public.%I SELECT * FROM moved', part) USING lo, hi;
  EXECUTE format('ALTER TABLE public.usage_events ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
  EXECUTE format('ALTER TABLE public.%I DROP CONSTRAINT %I', part, part || '_range');
  -- The table was created by the owner, so it got the owner's default privileges (0004); usage rows
  -- are append-only for the application, also when it names a partition directly.
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'taas_app') THEN
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON public.%I FROM taas_app', part);
  END IF;
END;
$fn$;
REVOKE ALL ON FUNCTION usage_events_ensure_partition(date) FROM PUBLIC;

-- 3. The daily rollup ----------------------------------------------------------------------------

-- One row per UTC day and (org, key, user, model, supplier, region), added to in the transaction
-- that inserts the events, from the rows that insert actually added (a replayed event adds
-- nothing). NULLS NOT DISTINCT: a null user, supplier or region is one group, not a new row each time.
CREATE TABLE usage_daily (
  day                  date NOT NULL,
  org_id               uuid NOT NULL REFERENCES orgs (id),
  key_id               uuid NOT NULL REFERENCES api_keys (id),
  user_id              uuid,
  model                text NOT NULL,
  supplier_id          text,
  region               text,
  requests             bigint NOT NULL CHECK (requests > 0),
  -- Non-2xx requests (free), counted in requests too.
  errors               bigint NOT NULL CHECK (errors >= 0),
  input_tokens         bigint NOT NULL CHECK (input_tokens >= 0),
  output_tokens        bigint NOT NULL CHECK (output_tokens >= 0),
  cached_input_tokens  bigint NOT NULL CHECK (cached_input_tokens >= 0),
  cache_write_tokens   bigint NOT NULL CHECK (cache_write_tokens >= 0),
  reasoning_tokens     bigint NOT NULL CHECK (reasoning_tokens >= 0),
  audio_seconds        numeric(16, 3) NOT NULL CHECK (audio_seconds >= 0),
  cost_micros          bigint NOT NULL CHECK (cost_micros >= 0),
  -- Requests whose counts the edge estimated, and 2xx requests that found no price (cost 0).
  estimated_requests   bigint NOT NULL CHECK (estimated_requests >= 0),
  unpriced_requests    bigint NOT NULL CHECK (unpriced_requests >= 0),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT usage_daily_group UNIQUE NULLS NOT DISTINCT (org_id, day, key_id, model, user_id, supplier_id, region)
);
-- The group key leads with (org_id, day): an org's usage over a range. Key and user budget windows
-- (daily, monthly, cumulative) sum these:
CREATE INDEX usage_daily_key_day_idx ON usage_daily (key_id, day);
CREATE INDEX usage_daily_user_day_idx ON usage_daily (user_id, day) WHERE user_id IS NOT NULL;

-- 4. Existing rows -------------------------------------------------------------------------------

DO $$
DECLARE
  m date;
BEGIN
  FOR m IN SELECT DISTINCT date_trunc('month', started_at AT TIME ZONE 'UTC')::date FROM usage_events_old LOOP
    PERFORM usage_events_ensure_partition(m);
  END LOOP;
END
$$;

-- A 2xx row that found no price version in force at its start was stored at 0 before: flag it.
INSERT INTO usage_events (id, request_id, key_id, org_id, user_id, node_id, model, supplier_id, region, endpoint, status,
                          input_tokens, output_tokens, audio_seconds, estimated, unpriced, cost_micros, latency_ms,
                          started_at, received_at)
SELECT o.id, o.request_id, o.key_id, o.org_id, o.user_id, o.node_id, o.model, o.supplier_id, o.region, o.endpoint, o.status,
       o.input_tokens, o.output_tokens, o.audio_seconds, o.estimated,
       o.status BETWEEN 200 AND 299
         AND NOT EXISTS (SELECT FROM model_prices p WHERE p.model_id = o.model AND p.effective_from <= o.started_at),
       o.cost_micros, o.latency_ms, o.started_at, o.received_at
  FROM usage_events_old o;

INSERT INTO usage_daily (day, org_id, key_id, user_id, model, supplier_id, region, requests, errors, input_tokens,
                         output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, audio_seconds,
                         cost_micros, estimated_requests, unpriced_requests)
SELECT (started_at AT TIME ZONE 'UTC')::date, org_id, key_id, user_id, model, supplier_id, region,
       count(*), count(*) FILTER (WHERE status NOT BETWEEN 200 AND 299), sum(input_tokens), sum(output_tokens),
       sum(cached_input_tokens), sum(cache_write_tokens), sum(reasoning_tokens), sum(audio_seconds), sum(cost_micros),
       count(*) FILTER (WHERE estimated), count(*) FILTER (WHERE unpriced)
  FROM usage_events
 GROUP BY 1, 2, 3, 4, 5, 6, 7;

DROP TABLE usage_events_old;

-- 5. The application role ------------------------------------------------------------------------

-- taas_app (0004) reads and appends usage rows (never rewrites them: retention detaches and drops
-- whole partitions as the owner), creates partitions only through the function above, and adds to
-- the rollup.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'taas_app') THEN
    RAISE NOTICE 'taas_app does not exist: grant it SELECT, INSERT on usage_events, SELECT, INSERT, UPDATE on usage_daily and EXECUTE on usage_events_ensure_partition(date) as in 0011_usage_rollups.sql';
    RETURN;
  END IF;
  GRANT SELECT, INSERT ON usage_events, usage_events_default TO taas_app;
  REVOKE UPDATE, DELETE, TRUNCATE ON usage_events, usage_events_default FROM taas_app;
  GRANT SELECT, INSERT, UPDATE ON usage_daily TO taas_app;
  REVOKE DELETE, TRUNCATE ON usage_daily FROM taas_app;
  GRANT EXECUTE ON FUNCTION usage_events_ensure_partition(date) TO taas_app;
END
$$;
