-- 0004: the audit log becomes tamper-evident (a SHA-256 hash chain in `seq` order), the
-- application gets its own role that may only SELECT and INSERT it, and — when a superuser runs
-- this — event triggers refuse DDL that would switch its protection off.
--
-- Layers (STACK.md "Postgres"): privileges stop the app role before any trigger; the ENABLE ALWAYS
-- triggers of 0001 stop the table owner's UPDATE/DELETE/TRUNCATE even under
-- session_replication_role = replica; the event triggers stop the owner's DISABLE TRIGGER, DROP and
-- friends. A superuser can still get past all of it (drop the event triggers, SET event_triggers
-- = off on PostgreSQL 17+, edit the catalogs, write the files): the chain, checked by
-- `npm run audit:verify` against a head kept outside the database, detects what they change.

-- 1. The chain columns and their one hash function -------------------------------------------

ALTER TABLE audit_log
  ADD COLUMN seq bigint,
  ADD COLUMN prev_hash bytea,
  ADD COLUMN row_hash bytea;

-- The canonical bytes of a row: jsonb's text form (keys sorted, one spacing) of every content
-- column, `at` as a fixed UTC string because timestamptz output follows the session's TimeZone.
-- `seq` is left out on purpose: a row's place is bound by prev_hash, so moving a row breaks the
-- link (reported as reordered) while its own hash stays valid. A SQL-standard body is bound at
-- creation (no search_path games) and makes its columns undroppable while it exists. The trigger
-- and `npm run audit:verify` both call this one function.
CREATE FUNCTION audit_row_hash(r audit_log) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
RETURN sha256(r.prev_hash || convert_to(jsonb_build_object(
  'id', r.id,
  'at', to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
  'actor_user_id', r.actor_user_id,
  'actor_token_id', r.actor_token_id,
  'org_id', r.org_id,
  'action', r.action,
  'target_type', r.target_type,
  'target_id', r.target_id,
  'before', r.before,
  'after', r.after,
  'request_id', r.request_id,
  'client_addr', r.client_addr
)::text, 'UTF8'));

-- 2. Chain the rows 0001 already holds, in id order (nothing else could have ordered them) -----

-- The owner may switch its own trigger off inside this transaction; ALTER TABLE holds an ACCESS
-- EXCLUSIVE lock until commit, so no insert can slip in between.
ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete;
DO $$
DECLARE
  r audit_log;
  n bigint := 0;
  prev bytea := decode(repeat('00', 32), 'hex');
BEGIN
  FOR r IN SELECT * FROM ONLY audit_log ORDER BY id LOOP
    n := n + 1;
    r.seq := n;
    r.prev_hash := prev;
    r.row_hash := audit_row_hash(r);
    UPDATE ONLY audit_log SET seq = r.seq, prev_hash = r.prev_hash, row_hash = r.row_hash WHERE id = r.id;
    prev := r.row_hash;
  END LOOP;
END
$$;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_update_delete;

ALTER TABLE audit_log
  ALTER COLUMN seq SET NOT NULL,
  ALTER COLUMN prev_hash SET NOT NULL,
  ALTER COLUMN row_hash SET NOT NULL,
  ADD CONSTRAINT audit_log_seq_key UNIQUE (seq),
  ADD CONSTRAINT audit_log_seq_positive CHECK (seq > 0),
  ADD CONSTRAINT audit_log_hash_sizes CHECK (octet_length(prev_hash) = 32 AND octet_length(row_hash) = 32);
-- The export filters by org or target and pages by seq; (org_id, id) from 0001 is superseded.
DROP INDEX audit_log_org_idx;
CREATE INDEX audit_log_org_seq_idx ON audit_log (org_id, seq);
CREATE INDEX audit_log_target_seq_idx ON audit_log (target_type, target_id, seq);

-- 3. Every new row is chained on insert ----------------------------------------------------------

-- One writer at a time from the lock to its commit, so two inserts cannot both extend the same
-- head: identity ids are handed out before this point (their order may differ from commit order,
-- and a rollback leaves a gap), so the chain order is `seq`, gapless, not `id`. Under READ
-- COMMITTED each statement here takes a fresh snapshot after the lock, so it sees the previous
-- holder's row; a REPEATABLE READ writer may not, and then fails on audit_log_seq_key instead of
-- forking the chain. The caller cannot choose seq, the hashes or the time: the database stamps them.
CREATE FUNCTION audit_log_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
  last_seq bigint;
  last_hash bytea;
BEGIN
  PERFORM pg_advisory_xact_lock(8386091129324790900);  -- 'taasaudt' as a big-endian int64
  SELECT a.seq, a.row_hash INTO last_seq, last_hash FROM ONLY public.audit_log a ORDER BY a.seq DESC LIMIT 1;
  NEW.at := now();
  NEW.seq := COALESCE(last_seq, 0) + 1;
  NEW.prev_hash := COALESCE(last_hash, decode(repeat('00', 32), 'hex'));
  NEW.row_hash := public.audit_row_hash(NEW);
  RETURN NEW;
END;
$$;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_chain;

-- 4. The application role -------------------------------------------------------------------------

-- Roles are cluster-wide and several databases (test clones, staging next to prod) may run this at
-- once: create it only when missing, and treat losing the race as success. A non-superuser owner
-- without CREATEROLE gets a NOTICE; an administrator creates the role, then re-grants (README).
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'taas_app') THEN
    IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
      RAISE NOTICE 'taas_app does not exist and % may not create roles: create it (CREATE ROLE taas_app NOLOGIN) and grant as in 0004_audit_chain.sql', current_user;
      RETURN;
    END IF;
    BEGIN
      CREATE ROLE taas_app NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;  -- another database's migration created it first
    END;
  END IF;

  GRANT USAGE ON SCHEMA public TO taas_app;
  GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO taas_app;
  GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO taas_app;
  -- Tables that later migrations create (as this same owner) get the same grants.
  ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO taas_app;
  ALTER DEFAULT PRIVILEGES GRANT USAGE, SELECT ON SEQUENCES TO taas_app;
  -- Append-only for the app; the migration history is the runner's alone.
  REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_log FROM taas_app;
  IF to_regclass('schema_migrations') IS NOT NULL THEN  -- absent when run by plain psql
    REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM taas_app;
  END IF;
END
$$;
REVOKE ALL ON audit_log FROM PUBLIC;

-- 5. The DDL guard (superuser only) --------------------------------------------------------------

-- Decision: ALTER TABLE audit_log stays possible, so a later migration may add a column (nullable
-- and without a default: while audit_row_hash takes the row type, PostgreSQL itself refuses a
-- default or a type change there — SET DEFAULT in a second statement). That changes no hashed
-- byte; a new column is outside the chain until a migration versions audit_row_hash. Any DDL that
-- leaves the protection weaker is refused after the fact, whatever its syntax: the check below
-- runs at the end of every DDL command and looks at the resulting catalog state. Rewrites (SET
-- UNLOGGED — a crash would then empty the table —, or a USING type change of a later column) are
-- refused before they happen. Changing the protection itself is a superuser migration that drops
-- these event triggers first and recreates them at its end. This block is self-contained: a
-- superuser re-runs it to install the guard where a non-superuser owner ran the migration.
DO $do$
BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RAISE NOTICE 'audit_log: % is not a superuser, so no event trigger guards audit_log against DDL by its owner (the hash chain still detects changes); a superuser can install it by re-running the last DO block of 0004_audit_chain.sql', current_user;
    RETURN;
  END IF;
  DROP EVENT TRIGGER IF EXISTS audit_log_guard_ddl;
  DROP EVENT TRIGGER IF EXISTS audit_log_guard_rewrite;

  -- Why audit_log is not in its protected state, or null when it is.
  CREATE OR REPLACE FUNCTION audit_log_protection_problem() RETURNS text
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $fn$
  DECLARE
    tbl oid := to_regclass('public.audit_log');
  BEGIN
    IF tbl IS NULL THEN
      RETURN 'public.audit_log is missing or renamed';
    END IF;
    IF to_regprocedure('public.audit_row_hash(public.audit_log)') IS NULL
       OR to_regprocedure('public.audit_log_guard_ddl()') IS NULL
       OR to_regprocedure('public.audit_log_guard_rewrite()') IS NULL THEN
      RETURN 'a function of its hash chain or guard is missing or renamed';
    END IF;
    -- Exactly these triggers, unconditional, ENABLE ALWAYS. tgtype: 1 row, 2 before, 4 insert,
    -- 8 delete, 16 update, 32 truncate. An extra BEFORE INSERT trigger could drop rows unseen.
    IF EXISTS (
      SELECT FROM (VALUES
          ('audit_log_chain', to_regprocedure('public.audit_log_chain()'), 7),
          ('audit_log_no_update_delete', to_regprocedure('public.audit_log_reject_change()'), 27),
          ('audit_log_no_truncate', to_regprocedure('public.audit_log_reject_change()'), 34)
        ) AS expected (name, fn, type)
        FULL JOIN (SELECT * FROM pg_trigger WHERE tgrelid = tbl AND NOT tgisinternal) AS t ON t.tgname = expected.name
       WHERE expected.name IS NULL OR t.tgname IS NULL OR expected.fn IS NULL
          OR t.tgfoid <> expected.fn OR t.tgtype <> expected.type OR t.tgenabled <> 'A'
          OR t.tgqual IS NOT NULL OR cardinality(t.tgattr::int2[]) > 0
    ) THEN
      RETURN 'its triggers must be exactly audit_log_chain, audit_log_no_update_delete and audit_log_no_truncate, unconditional and ENABLE ALWAYS';
    END IF;
    -- A rule can turn INSERT into nothing; inheritance adds foreign rows to a plain SELECT;
    -- row security can hide rows from the export.
    IF EXISTS (SELECT FROM pg_rewrite WHERE ev_class = tbl) THEN
      RETURN 'it may have no rules';
    END IF;
    IF EXISTS (SELECT FROM pg_inherits WHERE inhrelid = tbl OR inhparent = tbl) THEN
      RETURN 'it may not inherit or be inherited';
    END IF;
    IF (SELECT relrowsecurity FROM pg_class WHERE oid = tbl) THEN
      RETURN 'it may not use row-level security';
    END IF;
    IF EXISTS (
      SELECT FROM pg_class c, aclexplode(c.relacl) a
       WHERE c.oid = tbl AND a.grantee <> c.relowner AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER')
    ) THEN
      RETURN 'only its owner may hold UPDATE, DELETE, TRUNCATE or TRIGGER on it';
    END IF;
    RETURN NULL;
  END;
  $fn$;

  CREATE OR REPLACE FUNCTION audit_log_guard_ddl() RETURNS event_trigger
  LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
  DECLARE
    problem text;
  BEGIN
    -- The functions the protection rests on may not be replaced or altered (found by name: a
    -- signature lookup would fail outright once audit_log is renamed). Dropping or renaming one
    -- leaves it missing, which the state check below reports.
    IF EXISTS (
      SELECT FROM pg_event_trigger_ddl_commands() c JOIN pg_proc p ON p.oid = c.objid
       WHERE c.classid = 'pg_proc'::regclass AND p.pronamespace = to_regnamespace('public')
         AND p.proname IN ('audit_row_hash', 'audit_log_chain', 'audit_log_reject_change',
                           'audit_log_protection_problem', 'audit_log_guard_ddl', 'audit_log_guard_rewrite')
    ) THEN
      problem := 'the functions that chain and guard it cannot be changed';
    ELSIF to_regprocedure('public.audit_log_protection_problem()') IS NULL THEN
      problem := 'audit_log_protection_problem() is missing or renamed';
    ELSE
      problem := public.audit_log_protection_problem();
    END IF;
    IF problem IS NOT NULL THEN
      RAISE EXCEPTION 'audit_log is protected: % (refused: %)', problem, tg_tag
        USING ERRCODE = 'insufficient_privilege';
    END IF;
  END;
  $fn$;

  CREATE OR REPLACE FUNCTION audit_log_guard_rewrite() RETURNS event_trigger
  LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
  BEGIN
    IF pg_event_trigger_table_rewrite_oid() = to_regclass('public.audit_log') THEN
      RAISE EXCEPTION 'audit_log is protected: its rows cannot be rewritten (refused: %)', tg_tag
        USING ERRCODE = 'insufficient_privilege';
    END IF;
  END;
  $fn$;

  CREATE EVENT TRIGGER audit_log_guard_ddl ON ddl_command_end EXECUTE FUNCTION audit_log_guard_ddl();
  CREATE EVENT TRIGGER audit_log_guard_rewrite ON table_rewrite EXECUTE FUNCTION audit_log_guard_rewrite();
  -- ALWAYS: like the table triggers, they fire under session_replication_role = replica too.
  ALTER EVENT TRIGGER audit_log_guard_ddl ENABLE ALWAYS;
  ALTER EVENT TRIGGER audit_log_guard_rewrite ENABLE ALWAYS;

  IF audit_log_protection_problem() IS NOT NULL THEN
    RAISE EXCEPTION 'audit_log protection incomplete after 0004: %', audit_log_protection_problem();
  END IF;
END
$do$;
